"""Selector patterns of issue 16: ``!`` exclusion, ``&`` intersection, wildcards, ``~regex``, Ansible subscripts and
did-you-mean errors, and every form that existed before (no host is contacted; inventories are built in memory)."""

from __future__ import annotations

import itertools
import json

import pytest

from opskit.errors import OpskitError, SelectorError
from opskit.inventory import Inventory, load_text, select
from tests.conftest import run_inv

# Host order is deliberate: vm10 first, so "inventory order" and "sorted order" differ.
FLEET = """\
version: 2
name: patterns
hosts:
  vm10: {address: 10.2.0.10}
  vm1: {address: 10.2.0.1}
  vm2: {address: 10.2.0.2}
  vm3: {address: 10.2.0.3}
  vm4: {address: 10.2.0.4, labels: {zone: b}}
  peer-vm1: {address: 10.2.0.21, labels: {role: peer}}
  monitor: {address: 10.2.0.30, labels: {role: monitoring}}
orgs:
  ordererorg: {kind: orderer, domain: example.com, msp_id: OrdererMSP}
  org1: {domain: org1.example.com, msp_id: Org1MSP}
  org2: {domain: org2.example.com, msp_id: Org2MSP}
  org3: {domain: org3.example.com, msp_id: Org3MSP}
nodes:
  orderer1: {kind: orderer, host: vm1, org: ordererorg}
  kafka0: {kind: kafka, host: vm1}
  orderer2: {kind: orderer, host: vm2, org: ordererorg}
  orderer3: {kind: orderer, host: vm3, org: ordererorg}
  orderer4: {kind: orderer, host: vm4, org: ordererorg, labels: {tier: core}}
  peer0.org1: {kind: peer, host: peer-vm1, org: org1}
  peer1.org1: {kind: peer, host: peer-vm1, org: org1, labels: {tier: edge}}
  couchdb0.org1: {kind: couchdb, host: peer-vm1, org: org1}
  peer0.org2: {kind: peer, host: vm10, org: org2}
  prometheus: {kind: prometheus, host: monitor}
"""

ALL_HOSTS = ["vm10", "vm1", "vm2", "vm3", "vm4", "peer-vm1", "monitor"]


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_text(FLEET, "patterns.yaml")


def pick(inv: Inventory, selector: str | None) -> tuple[list[str], list[str]]:
    chosen = select(inv, selector)
    return [h.name for h in chosen.hosts], [n.name for n in chosen.nodes]


def hosts(inv: Inventory, selector: str) -> list[str]:
    return pick(inv, selector)[0]


def nodes(inv: Inventory, selector: str) -> list[str]:
    return pick(inv, selector)[1]


def refused(inv: Inventory, selector: str) -> str:
    with pytest.raises(SelectorError) as exc:
        select(inv, selector)
    msg = str(exc.value)
    assert isinstance(exc.value, OpskitError) and exc.value.exit_code == 3
    assert "\n" not in msg, msg
    return msg


# -- the forms that existed before ---------------------------------------------------------------------------------

@pytest.mark.parametrize("selector, want_hosts, want_nodes", [
    (None, ALL_HOSTS, None),
    ("", ALL_HOSTS, None),
    ("all", ALL_HOSTS, None),
    (" , ", ALL_HOSTS, None),
    ("vm1", ["vm1"], ["orderer1", "kafka0"]),
    ("orderer2", ["vm2"], ["orderer2"]),
    ("peer0.org1", ["peer-vm1"], ["peer0.org1"]),
    ("host:peer-vm1", ["peer-vm1"], ["peer0.org1", "peer1.org1", "couchdb0.org1"]),
    ("kind:peer", ["vm10", "peer-vm1"], ["peer0.org1", "peer1.org1", "peer0.org2"]),
    ("kind:kafka", ["vm1"], ["kafka0"]),
    ("org:org1", ["peer-vm1"], ["peer0.org1", "peer1.org1", "couchdb0.org1"]),
    ("label:role=monitoring", ["monitor"], ["prometheus"]),
    ("label:tier", ["vm4", "peer-vm1"], ["orderer4", "peer1.org1"]),
    ("label:tier=core", ["vm4"], ["orderer4"]),
    ("label:zone=b", ["vm4"], ["orderer4"]),
    ("kind:peer,kind:orderer", ["vm10", "vm1", "vm2", "vm3", "vm4", "peer-vm1"],
     ["orderer1", "orderer2", "orderer3", "orderer4", "peer0.org1", "peer1.org1", "peer0.org2"]),
    (" orderer1 , vm2 ", ["vm1", "vm2"], ["orderer1", "orderer2"]),
])
def test_old_forms_select_as_before(inv, selector, want_hosts, want_nodes):
    got_hosts, got_nodes = pick(inv, selector)
    assert got_hosts == want_hosts
    assert got_nodes == (want_nodes if want_nodes is not None else list(inv.nodes))


@pytest.mark.parametrize("selector, words", [
    ("peer9.org1", "is neither a host nor a node of inventory 'patterns'"),
    ("org:org9", "unknown org 'org9' (orgs: ordererorg, org1, org2, org3)"),
    ("kind:pear", "unknown node kind 'pear' in selector 'kind:pear' (kinds: peer, orderer"),
    ("kind:zookeeper", "selector 'kind:zookeeper': the inventory has no zookeeper nodes"),
    ("label:nope=1", "selector 'label:nope=1' matches no host or node"),
    ("colour:red", "unknown selector prefix 'colour' in 'colour:red' (use kind:, org:, host:, label:)"),
    ("host:vm9", "unknown host 'vm9'"),
    ("vm1,peer9.org1", "'peer9.org1' is neither"),     # one bad term in a union is still an error
])
def test_old_errors_remain(inv, selector, words):
    assert words in refused(inv, selector)


def test_an_empty_inventory_is_still_refused():
    empty = load_text("version: 2\nhosts: {}\n", "empty.yaml")
    assert "has no hosts" in refused(empty, "all")


# -- wildcards -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("selector, want_hosts, want_nodes", [
    ("vm?", ["vm1", "vm2", "vm3", "vm4"], ["orderer1", "kafka0", "orderer2", "orderer3", "orderer4"]),
    ("vm*", ["vm10", "vm1", "vm2", "vm3", "vm4"],
     ["orderer1", "kafka0", "orderer2", "orderer3", "orderer4", "peer0.org2"]),
    ("*", ALL_HOSTS, None),
    ("peer?.org1", ["peer-vm1"], ["peer0.org1", "peer1.org1"]),
    ("orderer[13]", ["vm1", "vm3"], ["orderer1", "orderer3"]),
    ("vm[!1]", ["vm2", "vm3", "vm4"], ["orderer2", "orderer3", "orderer4"]),
    ("vm[2-3]", ["vm2", "vm3"], ["orderer2", "orderer3"]),
    # a bare pattern matches host names (with their nodes) and node names (with their hosts)
    ("*vm1", ["vm1", "peer-vm1"], ["orderer1", "kafka0", "peer0.org1", "peer1.org1", "couchdb0.org1"]),
    ("host:vm?", ["vm1", "vm2", "vm3", "vm4"], ["orderer1", "kafka0", "orderer2", "orderer3", "orderer4"]),
    ("org:org[12]", ["vm10", "peer-vm1"], ["peer0.org1", "peer1.org1", "couchdb0.org1", "peer0.org2"]),
    ("kind:order*", ["vm1", "vm2", "vm3", "vm4"], ["orderer1", "orderer2", "orderer3", "orderer4"]),
    ("label:role=mon*", ["monitor"], ["prometheus"]),
])
def test_wildcards(inv, selector, want_hosts, want_nodes):
    got_hosts, got_nodes = pick(inv, selector)
    assert got_hosts == want_hosts
    assert got_nodes == (want_nodes if want_nodes is not None else list(inv.nodes))


def test_host_prefix_never_takes_a_node_of_the_pattern(inv):
    # "orderer*" as a bare term selects orderer nodes; as host: it names hosts, and there is none
    assert hosts(inv, "orderer*") == ["vm1", "vm2", "vm3", "vm4"]
    assert "unknown host 'orderer*'" in refused(inv, "host:orderer*")


def test_character_class_with_an_integer_when_nothing_has_the_base_name(inv):
    """``vm[12]``: no host or node ``vm``, so the brackets are a character class (vm1, vm2), not a subscript."""
    assert hosts(inv, "vm[12]") == ["vm1", "vm2"]
    assert hosts(inv, "host:vm[34]") == ["vm3", "vm4"]


def test_an_integer_subscript_wins_when_the_base_matches():
    both = load_text("version: 2\nhosts:\n  vm: {address: 10.3.0.9}\n  vm1: {address: 10.3.0.1}\n"
                     "  vm2: {address: 10.3.0.2}\n", "both.yaml")
    assert [h.name for h in select(both, "vm[0]").hosts] == ["vm"]      # subscript 0 of what "vm" selects
    msg = refused(both, "vm[1]")                                          # "vm" selects one host: index 1 is out
    assert "index 1 is out of range" in msg and "1 host(s) (vm)" in msg
    assert [h.name for h in select(both, "vm[!x]").hosts] == ["vm1", "vm2"]  # not an integer: a class


# -- regular expressions -------------------------------------------------------------------------------------------

def test_regex_matches_from_the_start_like_ansible(inv):
    assert hosts(inv, "~vm1") == ["vm10", "vm1"]                # re.match: anchored at the start only
    assert hosts(inv, "~vm1$") == ["vm1"]
    assert hosts(inv, "~vm[12]$") == ["vm1", "vm2"]             # brackets belong to the regex: no subscript
    assert nodes(inv, r"~peer\d\.org1$") == ["peer0.org1", "peer1.org1"]
    assert hosts(inv, "~(vm|monitor)$") == ["monitor"]          # alternation, anchored end
    # anchored at the start: "org1" occurs in node names, but none starts with it
    assert "'~org1' matches no host or node" in refused(inv, "~org1")


@pytest.mark.parametrize("selector", ["~(", "~vm[", "~*x"])
def test_bad_regex_is_a_selector_error(inv, selector):
    assert "bad regular expression" in refused(inv, selector)


def test_empty_regex_is_refused(inv):
    assert "empty" in refused(inv, "~")


# -- subscripts ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("selector, want_hosts", [
    ("vm*[0]", ["vm10"]),                 # inventory order, not sorted order
    ("vm?[0]", ["vm1"]),
    ("vm?[-1]", ["vm4"]),
    ("vm?[1:2]", ["vm2", "vm3"]),         # inclusive end, as Ansible
    ("vm?[2:]", ["vm3", "vm4"]),
    ("vm?[:1]", ["vm1", "vm2"]),
    ("vm?[-2:]", ["vm3", "vm4"]),
    ("vm?[0:-2]", ["vm1", "vm2", "vm3"]),
    ("vm?[1:1]", ["vm2"]),
    ("all[-1]", ["monitor"]),
    ("kind:peer[1]", ["peer-vm1"]),
    ("org:org1[0]", ["peer-vm1"]),
    ("label:tier[0:]", ["vm4", "peer-vm1"]),
    ("host:vm?[3]", ["vm4"]),
])
def test_subscripts_slice_the_terms_hosts(inv, selector, want_hosts):
    assert hosts(inv, selector) == want_hosts


def test_subscript_keeps_only_the_terms_nodes_on_the_chosen_hosts(inv):
    # the first host running an orderer is vm1; kafka0 on it is not an orderer, so it stays out
    assert pick(inv, "kind:orderer[0]") == (["vm1"], ["orderer1"])
    assert pick(inv, "kind:orderer[1:2]") == (["vm2", "vm3"], ["orderer2", "orderer3"])
    # a host term brings all its nodes, so its slice does too
    assert pick(inv, "vm?[0]") == (["vm1"], ["orderer1", "kafka0"])


@pytest.mark.parametrize("selector, words", [
    ("vm?[4]", "index 4 is out of range: the term selects 4 host(s) (vm1, vm2, vm3, vm4)"),
    ("vm?[-5]", "index -5 is out of range"),
    ("vm?[3:1]", "the range [3:1] (inclusive) takes none of the 4 host(s)"),
    ("vm?[7:]", "takes none"),
    ("vm?[:-9]", "takes none"),
])
def test_subscripts_out_of_range_are_errors(inv, selector, words):
    assert words in refused(inv, selector)


def test_a_range_subscript_is_never_a_character_class(inv):
    """``vm[1:2]`` is Ansible's slice of what ``vm`` selects, not "vm1 and vm2"; the error says how to get those."""
    msg = refused(inv, "vm[1:2]")
    assert "'vm' is neither a host nor a node" in msg
    assert "subscript" in msg and "character class" in msg


def test_an_unmatched_integer_subscript_names_both_readings(inv):
    msg = refused(inv, "xx[5]")
    assert "'xx' is neither" in msg and "read as a wildcard 'xx[5]' matches nothing either" in msg


# -- exclusion -----------------------------------------------------------------------------------------------------

def test_exclusion_alone_means_all_except(inv):
    got_hosts, got_nodes = pick(inv, "!vm1")
    assert got_hosts == [h for h in ALL_HOSTS if h != "vm1"]
    assert got_nodes == [n for n in inv.nodes if n not in ("orderer1", "kafka0")]
    assert hosts(inv, "!vm*,!peer-vm1") == ["monitor"]


def test_excluding_a_host_removes_its_nodes(inv):
    assert pick(inv, "kind:orderer,!vm1") == (["vm2", "vm3", "vm4"], ["orderer2", "orderer3", "orderer4"])
    assert pick(inv, "orderer1,kafka0,vm2,!host:vm1") == (["vm2"], ["orderer2"])


def test_excluding_a_node_keeps_a_host_selected_as_a_host(inv):
    assert pick(inv, "vm1,!orderer1") == (["vm1"], ["kafka0"])
    assert pick(inv, "vm2,!orderer2") == (["vm2"], [])                 # asked for: its host checks still run
    got_hosts, got_nodes = pick(inv, "!orderer1")                        # "all" selects every host as a host
    assert got_hosts == ALL_HOSTS and "orderer1" not in got_nodes


def test_excluding_a_node_drops_a_host_selected_only_through_nodes(inv):
    assert pick(inv, "kind:orderer,!orderer1") == (["vm2", "vm3", "vm4"], ["orderer2", "orderer3", "orderer4"])
    # ... but not while another selected node remains on it
    assert pick(inv, "org:org1,!peer0.org1") == (["peer-vm1"], ["peer1.org1", "couchdb0.org1"])
    assert pick(inv, "orderer1,kafka0,!orderer1") == (["vm1"], ["kafka0"])


def test_exclusion_with_patterns_prefixes_regex_and_subscripts(inv):
    assert hosts(inv, "vm?,!vm[12]") == ["vm3", "vm4"]
    assert hosts(inv, "vm?,!~vm[34]") == ["vm1", "vm2"]
    assert nodes(inv, "kind:peer,!org:org1") == ["peer0.org2"]
    assert hosts(inv, "vm?,!vm?[0]") == ["vm2", "vm3", "vm4"]
    assert nodes(inv, "kind:orderer,!label:tier=core") == ["orderer1", "orderer2", "orderer3"]
    assert pick(inv, "!kind:orderer,!kind:kafka,vm?") == (["vm1", "vm2", "vm3", "vm4"], [])


# -- intersection --------------------------------------------------------------------------------------------------

def test_intersection(inv):
    assert pick(inv, "kind:orderer,&vm[12]") == (["vm1", "vm2"], ["orderer1", "orderer2"])
    assert pick(inv, "vm1,&kind:orderer") == (["vm1"], ["orderer1"])
    assert pick(inv, "vm*,&org:org2") == (["vm10"], ["peer0.org2"])
    assert pick(inv, "vm*,&kind:orderer,&vm[23]") == (["vm2", "vm3"], ["orderer2", "orderer3"])
    assert pick(inv, "&kind:peer") == (["vm10", "peer-vm1"], ["peer0.org1", "peer1.org1", "peer0.org2"])
    assert pick(inv, "peer0.org1,&peer-vm1") == (["peer-vm1"], ["peer0.org1"])
    assert pick(inv, "kind:orderer,&~vm[34]$") == (["vm3", "vm4"], ["orderer3", "orderer4"])


# -- order rule: unions, then intersections, then exclusions, wherever they are written --------------------------

def test_terms_apply_in_ansibles_order_whatever_their_position(inv):
    terms = ["kind:orderer", "kafka0", "&vm?", "!vm2", "!orderer3"]
    want = (["vm1", "vm4"], ["orderer1", "kafka0", "orderer4"])
    for perm in itertools.permutations(terms):
        assert pick(inv, ",".join(perm)) == want, perm
    # an exclusion written first still removes what a later union adds; an intersection written first still limits it
    assert hosts(inv, "!vm1,vm?") == ["vm2", "vm3", "vm4"]
    assert hosts(inv, "&vm[12],vm*") == ["vm1", "vm2"]


# -- errors --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("selector, words", [
    ("peer0.org9", "'peer0.org9' is neither a host nor a node of inventory 'patterns'; did you mean 'peer0.org2' or "
     "'peer0.org1' or 'peer1.org1'?"),
    ("vn1", "did you mean 'vm1'"),
    ("prometeus", "did you mean 'prometheus'"),
    ("host:vm9", "unknown host 'vm9'; did you mean"),
    ("org:orgg1", "did you mean 'org1'"),
    ("kind:pear", "did you mean 'peer'"),
    ("peer0.org9*", "'peer0.org9*' matches no host or node of inventory 'patterns'; did you mean 'peer0.org2' or "
     "'peer0.org1' or 'peer1.org1'?"),
    ("!vn1", "did you mean 'vm1'"),                     # a typo in an exclusion never excludes nothing quietly
    ("kind:orderer,&vn[12]", "'vn' is neither"),        # nor in an intersection
    ("org:org3", "org org3 has no nodes"),
    ("kind:z*", "the inventory has no z* nodes"),
    ("kind:x*", "unknown node kind 'x*'"),
])
def test_a_term_matching_nothing_is_an_error_with_a_suggestion(inv, selector, words):
    assert words in refused(inv, selector)


def test_no_suggestion_when_nothing_is_close(inv):
    msg = refused(inv, "zzzzzz")
    assert "did you mean" not in msg and "'zzzzzz' is neither" in msg


@pytest.mark.parametrize("selector", [
    "vm1,!vm1", "kind:orderer,&peer-vm1", "!all", "!vm*,!peer-vm1,!monitor", "peer0.org2,!vm10",
    "kind:orderer,!orderer1,!orderer2,!orderer3,!orderer4",
])
def test_combinations_that_leave_nothing_are_errors_naming_the_selector(inv, selector):
    msg = refused(inv, selector)
    assert msg.startswith(f"selector {selector!r} selects nothing"), msg


@pytest.mark.parametrize("selector", ["!", "&", "vm1,!", "!!vm1", "&!vm1", "! ,vm1"])
def test_a_bare_operator_is_an_error(inv, selector):
    assert "is not a term" in refused(inv, selector)


# -- where the value enters: the CLI exits 3 with one line, before contacting anything ------------------------------

def test_cli_selects_with_patterns_and_refuses_a_typo_with_exit_3(tmp_path):
    path = tmp_path / "patterns.yaml"
    path.write_text(FLEET)
    ok = run_inv("inventory.show", "-i", str(path), "-s", "kind:orderer,!vm1,&vm?[0:2]", "--json")
    assert ok.returncode == 0, ok.stderr
    shown = json.loads(ok.stdout)
    assert [h["name"] for h in shown["hosts"]] == ["vm2", "vm3"]
    bad = run_inv("inventory.show", "-i", str(path), "-s", "vm*,!orderr1")
    assert bad.returncode == 3, bad.stdout + bad.stderr
    assert "did you mean 'orderer1'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr

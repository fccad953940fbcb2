"""The fleet model (YAML, versioned, validated) and selectors over it."""

from opskit.inventory.load import DEFAULT_INVENTORY, load_inventory, load_text
from opskit.inventory.model import CURRENT_VERSION, Host, Inventory, Node, NodeKind, Org
from opskit.inventory.select import Selection, select

__all__ = [
    "CURRENT_VERSION", "DEFAULT_INVENTORY", "Host", "Inventory", "Node", "NodeKind", "Org",
    "Selection", "load_inventory", "load_text", "select",
]

"""The package's architecture, read from its source: layers, imports, sizes.

The folders of ``lednet_ros/`` are layers, lowest first: the base modules,
``model``, ``msgs``, ``data``, ``inference``, ``evaluation``, ``training``,
``fleet``, ``ros`` and ``commands``. A module imports only from its own layer or lower
ones (lazy imports inside functions included), only ``ros/`` imports rclpy
and the ROS message packages, a command imports no other command (except
the shared argument helpers), and modules and functions stay small enough to
read. These tests parse the files; they import nothing of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lednet_ros"
TESTS = Path(__file__).resolve().parent

LAYERS = ("base", "model", "msgs", "data", "inference", "evaluation", "training", "fleet", "ros", "commands")
MESSAGE_PACKAGES = {"sensor_msgs", "std_msgs", "diagnostic_msgs", "rcl_interfaces", "builtin_interfaces", "vision_msgs"}
ROS_PACKAGES = {"rclpy", *MESSAGE_PACKAGES}
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
LONG_FUNCTIONS_ALLOWED = {"lednet_ros.data.synthetic"}
"""The scene painters: one long drawing routine per kind of object reads better than fragments."""
ENTRY_POINT = "lednet_ros.__main__"
"""``python -m lednet_ros`` runs the command line: it sits above everything, like ``commands/``."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module == ENTRY_POINT:
        return "commands"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "base"


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, module: str) -> list[tuple[str, int]]:
    """Every imported module name (absolute), with its line, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((name, node.lineno))
            # ``from lednet_ros.x import y`` may import the submodule y
            found += [
                (f"{name}.{alias.name}", node.lineno) for alias in node.names if f"{name}.{alias.name}" in MODULES
            ]
    return found


def module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name in MODULES}


def test_every_module_belongs_to_a_known_layer() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= set(LAYERS), folders - set(LAYERS)
    assert all((PACKAGE / folder / "__init__.py").is_file() for folder in folders)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down(module: str) -> None:
    rank = LAYERS.index(layer_of(module))
    upward = [
        f"line {line}: {name} ({layer_of(name)})"
        for name, line in imports_of(MODULES[module], module)
        if name.startswith("lednet_ros") and LAYERS.index(layer_of(name)) > rank
    ]
    assert not upward, f"{module} ({layer_of(module)}) imports a higher layer: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_ros_layer_imports_rclpy(module: str) -> None:
    """rclpy only in ``ros/``; message classes also in ``msgs/`` (cv_bridge's API returns messages)."""
    allowed = {"ros": ROS_PACKAGES, "msgs": MESSAGE_PACKAGES}.get(layer_of(module), set())
    ros = [f"line {line}: {name}" for name, line in imports_of(MODULES[module], module)
           if name.split(".")[0] in ROS_PACKAGES - allowed]  # fmt: skip
    assert not ros, f"{module} imports ROS: {ros}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) == "commands"))
def test_commands_import_no_other_command(module: str) -> None:
    shared = {"lednet_ros.commands", "lednet_ros.commands.args"}
    if module == ENTRY_POINT:
        shared.add("lednet_ros.commands.main")
    others = [
        name for name, _ in imports_of(MODULES[module], module)
        if name.startswith("lednet_ros.commands") and name not in shared and name != module
    ]  # fmt: skip
    assert not others, f"{module} imports other commands: {others}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_fleet_layer_imports_ray(module: str) -> None:
    """Ray is an optional extra: only ``fleet/`` imports it, so nothing else needs it installed."""
    ray = [f"line {line}: {name}" for name, line in imports_of(MODULES[module], module) if name.split(".")[0] == "ray"]
    assert layer_of(module) == "fleet" or not ray, f"{module} imports Ray: {ray}"


def test_no_circular_imports_at_module_level() -> None:
    graph = {module: module_level_imports(path) for module, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                raise AssertionError(" -> ".join([*trail, module, target]))
            if target not in state:
                visit(target, [*trail, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines"


@pytest.mark.parametrize("module", sorted(set(MODULES) - LONG_FUNCTIONS_ALLOWED))
def test_functions_stay_short(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{module}: {long}"


def test_core_tests_never_import_rclpy() -> None:
    """Tests outside test/ros/ run without ROS: neither rclpy nor the helpers that start nodes."""
    offenders = []
    for path in sorted(TESTS.rglob("test_*.py")):
        if path.parent.name == "ros":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(TESTS)}: {n}" for n in names
                          if n.split(".")[0] in ROS_PACKAGES | {"ros_helpers"}]  # fmt: skip
    assert not offenders, offenders


def test_the_layer_checks_see_violations(tmp_path: Path) -> None:
    """The import reader itself: relative and lazy imports are found, so the tests above can fail."""
    probe = tmp_path / "probe.py"
    probe.write_text("from .engine import x\n\ndef f():\n    from lednet_ros.ros import node\n    import rclpy\n")
    found = {name for name, _ in imports_of(probe, "lednet_ros.inference.probe")}
    assert {"lednet_ros.inference.engine", "lednet_ros.ros", "lednet_ros.ros.node", "rclpy"} <= found
    assert layer_of("lednet_ros.ros.node") == "ros" and layer_of("lednet_ros.errors") == "base"

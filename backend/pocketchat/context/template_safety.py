"""Whether a model's chat template may be served: it must not reach for Python internals.

Templates are code from the model file. prompt.py renders them in Jinja's immutable sandbox,
which refuses each access to an internal but turns some into silent empty values; a template
that tries at all is refused at start instead.
"""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError


class UnsafeTemplate(ValueError):
    """The message says why, as in 'its chat template is unsafe (it reaches for ...)'."""


class _StrictSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, except that a forbidden access fails instead of giving an empty value."""

    def unsafe_undefined(self, obj: Any, attribute: Any) -> Undefined:
        raise SecurityError(f"it reaches for {attribute!r} of a {type(obj).__name__}")


def check_chat_template(source: object) -> None:
    """Refuse a template that reaches for Python internals (`''.__class__`, `x|attr(name)`).

    The sandbox prompt.py renders with refuses each such access, but turns some into silent
    empty values; a template that tries is not one to serve. Names written in the template are
    checked wherever they are; names computed at run time, on a sample conversation.
    """
    if not isinstance(source, str) or not source:
        return  # ChatPrompt says that the model has no usable chat template
    env = _StrictSandbox(extensions=["jinja2.ext.loopcontrols"])
    # prompt.py's helper; without it a Llama 3 template would stop before most of its text.
    env.globals["strftime_now"] = lambda fmt: "1 January 2025"
    try:
        tree = env.parse(source)
        for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
            reached = _reached_name(node)
            if reached is not None:
                raise UnsafeTemplate(f"its chat template is unsafe (it reaches for {reached})")
        template = env.from_string(tree)
    except TemplateSyntaxError as error:
        raise UnsafeTemplate(
            f"its chat template is unusable (line {error.lineno}: {error})"
        ) from None
    turns = [{"role": role, "content": f"{role} text"} for role in ("user", "assistant", "user")]
    samples: list[dict[str, Any]] = [
        {"messages": [{"role": "system", "content": "system text"}, *turns]},
        {"messages": turns},
        {"messages": _TOOL_TURNS, "tools": [_TOOL]},
    ]
    for sample in samples:
        try:
            template.render(**sample, add_generation_prompt=True, bos_token="", eos_token="")
        except SecurityError as error:
            raise UnsafeTemplate(f"its chat template is unsafe ({error})") from None
        except Exception:
            pass  # a template that cannot render a conversation is ChatPrompt's to report


# A conversation with a tool: the branches of a template that only tools reach are run too.
_TOOL = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}
_CALL = {"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}
_TOOL_TURNS = [
    {"role": "user", "content": "user text"},
    {"role": "assistant", "content": "", "tool_calls": [_CALL]},
    {"role": "tool", "content": "tool text", "tool_call_id": "c"},
]


def _reached_name(node: nodes.Node) -> str | None:
    """The Python internal an attribute or item access reaches for, if it names one."""
    if isinstance(node, nodes.Getattr):
        name: object = node.attr
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        name = node.arg.value
    elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
        argument = node.args[0]
        if not isinstance(argument, nodes.Const):
            return "an attribute named at run time"
        name = argument.value
    else:
        return None
    return repr(name) if isinstance(name, str) and name.startswith("_") else None

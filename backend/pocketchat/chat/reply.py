"""What a request asks of its reply beyond plain text: the grammar it must follow (JSON, forced
tool calls), what its prompt shows besides the messages (tools, template variables), and the
parser that reads the reply back (content, reasoning, calls).

Everything is checked here, before the request is queued: a bad schema or an unsupported tool
is a refusal naming the field, not a failure in the middle of a stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pocketchat.chat.errors import InvalidField
from pocketchat.chat.output import OutputParser
from pocketchat.chat.request import ChatRequest
from pocketchat.chat.tools import call_grammar, check_tools, forced
from pocketchat.context.prompt import ChatPrompt, TemplateUnusable
from pocketchat.context.tools import PromptOptions
from pocketchat.engine.json_schema import UnsupportedSchema
from pocketchat.engine.llama import LlamaError, json_grammar


def prepare_reply(
    request: ChatRequest, prompt: ChatPrompt, check_grammar: Callable[[str], None]
) -> tuple[ChatRequest, PromptOptions, OutputParser]:
    """The request with its reply's grammar, its prompt options and its parser; InvalidField
    for what this model cannot do."""
    reader = check_tools(request, prompt)
    grammar = None
    if request.json_output is not None:
        schema = request.json_output.schema
        grammar = _checked(lambda: json_grammar(schema), check_grammar,
                           "response_format.json_schema.schema")  # fmt: skip
    elif request.tools is not None and forced(request.tools):
        use = request.tools
        grammar = _checked(lambda: call_grammar(use), check_grammar, "tools")
    if grammar is not None:
        request = replace(request, sampling=replace(request.sampling, grammar=grammar))
    tools = request.tools.tools if request.tools is not None else ()
    options = PromptOptions(tools, request.template_kwargs)
    if grammar is not None:
        # The grammar makes the whole reply JSON or calls, even after a prompt that opens a
        # think block: none of it is reasoning.
        return request, options, OutputParser(reader)
    try:
        thinking_open = prompt.thinking_open(options)
    except TemplateUnusable as error:
        raise template_refusal(request, error) from None
    return request, options, OutputParser(reader, reasoning=prompt.reasoning,
                                          thinking_open=thinking_open)  # fmt: skip


def template_refusal(request: ChatRequest, error: TemplateUnusable) -> InvalidField:
    """The template refused this request (a role order it does not take, a variable it cannot
    use): the fault of the messages, or of the variables the request gave it."""
    param = "chat_template_kwargs" if request.template_kwargs else "messages"
    return InvalidField(str(error), param, "template_error")


def _checked(make: Callable[[], str], check_grammar: Callable[[str], None], param: str) -> str:
    try:
        grammar = make()
        check_grammar(grammar)
    except (UnsupportedSchema, LlamaError) as error:
        raise InvalidField(str(error), param, "unsupported_schema") from None
    return grammar

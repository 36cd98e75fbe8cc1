"""The llmopt error tree. Every message names the fix; the CLI prints one clean line, tests see the exception."""


class LlmoptError(Exception):
    """Base class for errors a user can act on."""


class ConfigError(LlmoptError):
    """A bad option, flag or configuration file."""


class InputError(LlmoptError):
    """Bad input data (a file, a prompt, a dataset row)."""


class ModelSpecError(LlmoptError):
    """A model spec that does not parse or does not resolve on this machine."""


class ModelPackError(LlmoptError):
    """A local model pack that is missing pieces or fails its integrity check."""


class ContextLengthError(InputError):
    """A prompt longer than the model's context window."""

    def __init__(self, prompt_tokens: int, context_length: int, max_tokens: int = 0, model: str = ""):
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length
        self.max_tokens = max_tokens
        need = f"{prompt_tokens} prompt tokens" + (f" + {max_tokens} to generate" if max_tokens else "")
        super().__init__(
            f"prompt too long for {model or 'the model'}: {need} > context length {context_length}; "
            "shorten the prompt, lower --max-tokens, or pass --truncate to cut the prompt from the left"
        )


class BackendError(LlmoptError):
    """An engine or endpoint failed to answer."""


class Cancelled(BackendError):
    """A call stopped mid-way because its caller gave up on it (a request that timed out or whose client left)."""


class EndpointError(BackendError):
    """An HTTP endpoint that could not be reached or answered with an error."""

"""Prove that the installed llama-cpp-python runs on this CPU: real prompts through real kernels.

install_llama.py runs this in a child process because a build that uses an instruction this CPU
lacks does not raise: it dies with SIGILL (measured with ggml's AMX matmul on Xeon VMs).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from make_test_model import quantize_model, write_test_model

# Long enough for a batched prompt pass (the matrix kernels), then single-token decodes.
PROMPT = "The quick brown fox jumps over the lazy dog. 你好，世界！" * 4
DECODE_TOKENS = 8


def main() -> int:
    import llama_cpp

    # f32, legacy block quants and the k-quant mix each reach other kernels (AVX-512, VNNI, repack).
    ftypes = {
        "f32": None,
        "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
        "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    }
    with tempfile.TemporaryDirectory(prefix="pocketchat-selfcheck-") as workdir:
        source = write_test_model("tiny", Path(workdir) / "tiny-f32.gguf")
        for label, ftype in ftypes.items():
            path = source
            if ftype is not None:
                path = Path(workdir) / f"tiny-{label}.gguf"
                quantize_model(source, path, ftype)
            llm = llama_cpp.Llama(
                str(path), n_ctx=512, n_batch=64, n_threads=os.cpu_count() or 1, verbose=False
            )
            reply = llm.create_completion(PROMPT, max_tokens=DECODE_TOKENS, temperature=0)
            usage = reply["usage"]  # type: ignore[index]
            if usage["completion_tokens"] != DECODE_TOKENS:
                print(f"{label}: decoded {usage['completion_tokens']} of {DECODE_TOKENS} tokens")
                return 1
            print(
                f"  {label}: read {usage['prompt_tokens']} prompt tokens, decoded {DECODE_TOKENS}"
            )
            llm.close()
    print(f"llama-cpp-python {llama_cpp.__version__} runs on this CPU.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

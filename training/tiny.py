"""Randomly initialised Qwen2-style causal LMs with a local ChatML tokenizer: no downloads, for tests and GPU checks.

``build_tiny_model(out_dir, shape="tiny")`` writes a folder that ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` (and vLLM) load. The tokenizer is a byte-level BPE trained here on a few KB
of site code and the agent's prompt templates (deterministic), with ChatML special tokens and a chat template
that marks the assistant's output with ``{% generation %}`` (for SFT's assistant-only loss). Shapes:

* ``tiny``: 2 layers, hidden 64 (about 0.2M parameters): CPU tests in seconds.
* ``0.5b``: Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 heads / 2 KV heads, vocab 151,936): GPU checks.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

__all__ = ["CHAT_TEMPLATE", "SHAPES", "build_tiny_model", "build_tokenizer"]

Shape = Literal["tiny", "0.5b"]

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

#: ChatML; the assistant's text and its closing token are the generation span
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

SHAPES: dict[str, dict[str, int | float | bool]] = {
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": True,
    },
    "0.5b": {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": True,
        "vocab_size": 151936,
        "rope_theta": 1_000_000.0,
    },
}

_CORPUS = """
<boltArtifact id="site" title="A bakery site"><boltAction type="file" filePath="src/App.tsx">
import { BrowserRouter, Routes, Route, Link } from 'react-router-dom';
import Home from './pages/Home';
export default function App() {
  return (
    <BrowserRouter>
      <nav className="flex gap-4 p-4 bg-white shadow"><Link to="/">Home</Link><Link to="/menu">Menu</Link></nav>
      <Routes><Route path="/" element={<Home />} /></Routes>
    </BrowserRouter>
  );
}
</boltAction></boltArtifact>
<boltAction type="screenshot_validated"/> <boltAction type="finish"/>
export default function Home() { const [items, setItems] = useState<string[]>([]); return <main className="p-8">
<h1 className="text-3xl font-bold">Welcome</h1><p>Fresh bread every morning.</p><button onClick={() => setItems([])}>
Order</button></main>; }
The site builds. The screenshot was graded 4/5. Fix the errors, then write whole files. Build failed: error in
src/pages/Menu.tsx line 3. Console error: Uncaught TypeError. The page is blank. Please validate the screenshot.
A recipe site with search and favourites. A portfolio with a contact form. A todo app with filters and a dashboard.
<think>I will write the pages.</think><answer>done</answer> You are a web developer. Write the files.
"""


def _prompt_text() -> str:
    """The agent's prompt templates, so the prompts the tests send take few tokens."""
    folder = resources.files("webgen.agent") / "prompts"
    return "\n".join(item.read_text(encoding="utf-8") for item in sorted(folder.iterdir(), key=str) if item.is_file())


def build_tokenizer(out_dir: Path | None = None, *, vocab_size: int = 2048):  # -> PreTrainedTokenizerFast
    """A byte-level BPE with ChatML special tokens and :data:`CHAT_TEMPLATE` (saved to ``out_dir`` if given)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([_CORPUS, _prompt_text()] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    if out_dir is not None:
        fast.save_pretrained(out_dir)
    return fast


def build_tiny_model(out_dir: Path | str, *, shape: Shape = "tiny", seed: int = 0) -> Path:
    """Write a randomly initialised Qwen2 causal LM of ``shape`` and its tokenizer to ``out_dir``; returns it."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out)
    dims = dict(SHAPES[shape])
    vocab = int(dims.pop("vocab_size", 0)) or -(-len(tokenizer) // 64) * 64  # rounded up, as real models do
    config = Qwen2Config(
        vocab_size=vocab,
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **dims,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    if shape != "tiny":
        model = model.to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=True
    )
    model.save_pretrained(out)
    return out

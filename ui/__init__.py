"""The Gradio chat UI (`webgen ui`): build a site by conversation, watch every step, preview, restore, download."""

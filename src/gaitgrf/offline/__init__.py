"""Pages that open with no network (docs/offline.md): vendored web libraries (`web_assets`) and
DVC's plots page rendered with a local Vega bundle (`plots_page`)."""

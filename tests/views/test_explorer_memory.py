"""A run too big for the memory it can get shows one sentence, not a traceback."""

from distil_explorer import set_memory_limit


def test_a_run_refused_for_memory_shows_the_way_out_and_the_app_runs_on(app):
    app.build()
    set_memory_limit("1 kB")
    try:
        app.run_panel.button.click()
    finally:
        set_memory_limit(None)
    assert app.error.layout.display is None
    shown = app.error.value.split("<b>", 1)[1].split("</b>", 1)[0]
    assert shown.startswith("capture(B=1, T=5): needs about ")
    assert "allowed: layers= or heads= (keep fewer maps)" in shown
    assert "Traceback" not in shown and "NotEnoughMemoryError" not in shown
    assert not app.run_panel.button.disabled
    app.run_panel.button.click()
    assert app.error.layout.display == "none", app.error.value
    assert app.trace.token_ids.shape == (1, 5)

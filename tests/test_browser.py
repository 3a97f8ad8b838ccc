"""The drawing page in a real browser: headless Chromium, driven by selenium, draws a digit
on the canvas with pointer events and reads the prediction the page shows.

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: apt-get install chromium
chromium-driver) and the selenium package. Without them the test is skipped on a developer's
machine, but fails when the environment variable CI is set: CI must never skip it silently.

By default the model is a small untrained ViT. To take the screenshot in docs/app.md with a trained
model:  NUMPYVIT_APP_CHECKPOINT=runs/<run> NUMPYVIT_SCREENSHOT=docs/figures/app.png \\
        python -m pytest tests/test_browser.py
"""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from photos import STROKES

from numpyvit.app.server import DigitReader, make_server
from numpyvit.models.vit import ViTConfig, VisionTransformer
from numpyvit.training.checkpoint import load_model, save_checkpoint

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1000"]


def missing_browser():
    """What is missing to run the browser (a list of names), or []."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return missing


def require_browser(missing, ci):
    """Skip (a developer's machine) or fail (CI) when something the browser needs is missing."""
    if missing:
        message = f"the browser test needs {', '.join(missing)} (see tests/test_browser.py)"
        if ci:
            pytest.fail(f"CI is set, so this may not be skipped: {message}")
        pytest.skip(message)


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere():
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_browser(["/usr/bin/chromium"], ci="true")
    with pytest.raises(pytest.skip.Exception, match="needs /usr/bin/chromium"):
        require_browser(["/usr/bin/chromium"], ci="")
    require_browser([], ci="true")                   # everything there: neither


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    require_browser(missing_browser(), os.environ.get("CI"))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The server, on a free port; its URL."""
    checkpoint = os.environ.get("NUMPYVIT_APP_CHECKPOINT")
    if checkpoint is None:
        checkpoint = save_checkpoint(tmp_path_factory.mktemp("model") / "last.npz",
                                     VisionTransformer(ViTConfig(dim=16, depth=2, heads=2, mlp_dim=32), seed=0))
    # the checkpoint's own name in the page's header; MNIST from its usual cache, if there
    reader = DigitReader(load_model(checkpoint), name=Path(checkpoint).name)
    server = make_server(reader, port=0, seed=0)
    import threading
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}/", reader
    server.shutdown()
    server.server_close()


def draw(driver, canvas, label):
    """Draw digit `label` (tests/photos.py's strokes) with the pointer: press, move, release."""
    from selenium.webdriver.common.action_chains import ActionChains
    side = canvas.size["width"]
    margin, span = 0.2 * side, 0.6 * side
    for stroke in STROKES[label]:
        # offsets are from the element's centre; pointer moves of 10 ms each
        points = [(margin + span * x - side / 2, margin + span * y - side / 2) for x, y in stroke]
        actions = ActionChains(driver, duration=10)
        actions.move_to_element_with_offset(canvas, round(points[0][0]), round(points[0][1])).click_and_hold()
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            actions.move_by_offset(round(x1) - round(x0), round(y1) - round(y0))
        actions.release().perform()


def shown_digit(driver, timeout=30):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, timeout).until(
        lambda d: d.find_element(By.ID, "prediction").text.strip() in list("0123456789"))
    return int(driver.find_element(By.ID, "prediction").text)


def test_drawing_a_digit_shows_its_prediction_and_attention(driver, page, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    url, reader = page
    driver.get(url)
    WebDriverWait(driver, 20).until(lambda d: "layers" in d.find_element(By.ID, "model-info").text)
    assert driver.find_element(By.ID, "prediction").text == "–"
    canvas = driver.find_element(By.ID, "canvas")
    label = 3
    draw(driver, canvas, label)
    top = shown_digit(driver)
    # the page's bars and maps: ten probabilities, one small map per layer and head
    bars = driver.find_elements(By.CSS_SELECTOR, "#bars .bar")
    assert len(bars) == 10 and "top" in bars[top].get_attribute("class")
    maps = driver.find_elements(By.CSS_SELECTOR, "#attention canvas")
    assert len(maps) == len(reader.model.blocks) * reader.model.config.heads
    assert "#b42318" not in driver.find_element(By.ID, "status").get_attribute("style")   # no error shown
    if os.environ.get("NUMPYVIT_APP_CHECKPOINT"):        # a trained model must read the drawing right
        assert top == label, f"drew a {label}, the page shows {top}"

    # choose a query patch by clicking the 28x28 view, then nudge the digit one pixel right
    from selenium.webdriver.common.action_chains import ActionChains
    view = driver.find_element(By.ID, "input28")
    ActionChains(driver).move_to_element_with_offset(view, view.size["width"] // 8, 0).click().perform()
    WebDriverWait(driver, 20).until(lambda d: "patch" in d.find_element(By.ID, "query-name").text)
    driver.find_element(By.CSS_SELECTOR, '.nudge button[data-dx="1"]').click()
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "shift").text == "shift (0, 1)")
    shown_digit(driver)
    driver.find_element(By.ID, "query-cls").click()
    driver.find_element(By.ID, "nudge-reset").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "query-name").text == "the class token")

    png = tmp_path / "page.png"
    driver.execute_script("document.activeElement.blur()")      # no focus ring in the picture
    assert driver.save_screenshot(str(png))
    from PIL import Image
    with Image.open(png) as im:
        assert im.width >= 600 and np.asarray(im.convert("L")).std() > 10   # a page, not a blank
    target = os.environ.get("NUMPYVIT_SCREENSHOT")
    if target:                                # docs/app.md's copy, cut below the page's footer
        bottom = driver.execute_script("return document.querySelector('footer').getBoundingClientRect().bottom")
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        with Image.open(png) as im:
            im.crop((0, 0, im.width, min(im.height, int(bottom) + 8))).save(target, optimize=True)

    driver.find_element(By.ID, "clear").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "prediction").text == "–")


def test_the_random_digit_button_answers_or_says_why_not(driver, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    url, _ = page
    driver.get(url)
    driver.find_element(By.ID, "random").click()
    status = WebDriverWait(driver, 30).until(
        lambda d: d.find_element(By.ID, "status").text if (
            "labelled" in d.find_element(By.ID, "status").text
            or "not available" in d.find_element(By.ID, "status").text) else False)
    if "labelled" in status:                  # MNIST is cached here: a test digit was read
        shown_digit(driver)
    else:                                     # no MNIST: the page says so instead of failing
        assert driver.find_element(By.ID, "prediction").text == "–"


def test_the_page_fits_a_phone_screen(driver, page, tmp_path):
    from selenium.webdriver.common.by import By
    url, _ = page
    driver.set_window_size(390, 844)          # a phone held upright
    try:
        driver.get(url)
        draw(driver, driver.find_element(By.ID, "canvas"), 7)
        shown_digit(driver)
        driver.save_screenshot(str(tmp_path / "phone.png"))
        width = driver.execute_script("return document.documentElement.scrollWidth")
        canvas = driver.find_element(By.ID, "canvas")
        assert width <= 390 and canvas.size["width"] <= 390
    finally:
        driver.set_window_size(1280, 1000)

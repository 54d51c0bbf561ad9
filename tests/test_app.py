"""The web app in a real browser: Debian's chromium driven by Playwright uploads a real-face clip
and speech, clicks Dub, downloads the dub; a corrupt video shows the command line's message in the
page, and the app dubs again after it."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from diffdub_jax.data import audio, video
from hdtf_fixtures import talking_video
from renderer_fixtures import random_stages

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
SCREENSHOT = os.environ.get("DIFFDUB_APP_SCREENSHOT")  # where to keep the finished page (the README's)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (make chromium)")
    pytest.importorskip("playwright")
    root = tmp_path_factory.mktemp("app")
    renderer, motion = random_stages(root)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "diffdub_jax.app", f"--renderer_workdir={renderer}",
                               f"--motion_workdir={motion}", f"--port={port}", "--reference=first",
                               f"--prepared_videos_dir={root / 'prepared'}"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail(f"the app did not start:\n{server.stdout.read()[-3000:]}")
            time.sleep(1)
    yield url
    server.terminate()
    server.wait(timeout=30)


def _dub(page, clip, speech=None):
    """Uploads the clip (and speech, unless the page still holds one) and clicks Dub."""
    page.locator("#video input[type=file]").set_input_files(clip)
    if speech:
        page.locator("#speech input[type=file]").set_input_files(speech)
    page.locator("#video video").wait_for(timeout=60_000)
    page.locator("#dub").click()


def test_the_page_dubs_a_clip_shows_a_bad_one_clearly_and_dubs_again(app_url, tmp_path):
    from playwright.sync_api import sync_playwright  # pylint: disable=import-outside-toplevel

    clip, corrupt, speech = str(tmp_path / "face.mp4"), str(tmp_path / "broken.mp4"), str(tmp_path / "speech.wav")
    talking_video(clip, 1.0, fps=25, speech_text="a real face")
    with open(corrupt, "wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    subprocess.run(["espeak-ng", "-w", speech, "new words for this face"], check=True)
    speech_seconds = len(audio.load_audio(speech)) / audio.SAMPLE_RATE

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(app_url)

        _dub(page, clip, speech)
        dubbed = page.locator("#dubbed video")
        dubbed.wait_for(timeout=240_000)
        page.locator("#compared video").wait_for(timeout=60_000)
        downloaded = str(tmp_path / "downloaded.mp4")
        with open(downloaded, "wb") as handle:
            handle.write(page.request.get(dubbed.get_attribute("src")).body())
        info = video.probe_video(downloaded)
        assert info.fps == 25 and info.num_frames == round(speech_seconds * 25)
        assert abs(len(video.extract_audio_track(downloaded)) / audio.SAMPLE_RATE - speech_seconds) < 0.1
        assert "frames at 25 fps" in page.locator("#status").inner_text()
        if SCREENSHOT:
            page.screenshot(path=SCREENSHOT, full_page=True)

        page.locator("#video button[aria-label='Clear']").first.click()
        page.locator("#video input[type=file]").set_input_files(corrupt)
        page.locator("#dub").click()
        error = page.get_by_text("cannot read video")
        error.first.wait_for(timeout=60_000)

        page.locator("#video button[aria-label='Clear']").first.click()  # the same page: it still serves
        _dub(page, clip)  # the speech is still there
        page.get_by_text("the video's preparation was reused").wait_for(timeout=240_000)  # it was kept
        again = page.request.get(page.locator("#dubbed video").get_attribute("src")).body()
        with open(downloaded, "rb") as handle:
            assert again == handle.read()  # the same inputs and seed: the same dub
        browser.close()

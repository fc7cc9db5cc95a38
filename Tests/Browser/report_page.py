#!/usr/bin/env python3
"""Opens Tollgate report pages in headless Chromium (Selenium) and reports what it saw.

Usage: report_page.py PLAN.json RESULT.json

PLAN: {"pages": {NAME: URL, ...}, "screenshots": DIR}
RESULT: {NAME: {"title", "text" (the body's visible text), "ids" (id -> text of every element
with an id), "scripts" (number of <script> elements), "charts": {SVG_ID: {"width", "height",
"colored"}}, "error"}} where "colored" counts the pixels of the element's screenshot whose
colour is saturated (max - min channel > 60): the coloured lines and bars, not the white,
grey or black background, grid and text. Screenshots are saved as DIR/NAME-SVG_ID.png and
DIR/NAME.png. PNGs are decoded with zlib (no Pillow needed).

Chromium runs as in apply_form.py: --headless=new, --no-sandbox, --disable-dev-shm-usage,
--ignore-certificate-errors.
"""
import json
import os
import struct
import sys
import zlib

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--ignore-certificate-errors", "--window-size=1200,2400", "--no-first-run"]:
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def png_pixels(data):
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), f"unsupported PNG {depth} {colour} {interlace}"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous, i = [], bytearray(stride), 0
    for _ in range(height):
        filter_type = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = previous[x]
            c = previous[x - channels] if x >= channels else 0
            if filter_type == 1:
                line[x] = (line[x] + a) & 0xFF
            elif filter_type == 2:
                line[x] = (line[x] + b) & 0xFF
            elif filter_type == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif filter_type == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def colored_pixels(png):
    width, height, channels, rows = png_pixels(png)
    count = 0
    for row in rows:
        for x in range(0, width * channels, channels):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if max(r, g, b) - min(r, g, b) > 60:
                count += 1
    return width, height, count


READ_PAGE = """
const ids = {};
for (const e of document.querySelectorAll('[id]')) ids[e.id] = e.textContent;
return {title: document.title, text: document.body ? document.body.innerText : '', ids: ids,
        scripts: document.getElementsByTagName('script').length,
        svgs: Array.from(document.querySelectorAll('svg[id]')).map(e => e.id)};
"""


def main():
    plan = json.load(open(sys.argv[1]))
    shots = plan["screenshots"]
    os.makedirs(shots, exist_ok=True)
    results = {}
    browser = driver()
    try:
        for name, url in plan["pages"].items():
            result = {"error": None, "charts": {}}
            try:
                browser.get(url)
                page = browser.execute_script(READ_PAGE)
                result.update({k: page[k] for k in ["title", "text", "ids", "scripts"]})
                browser.save_screenshot(os.path.join(shots, f"{name}.png"))
                for svg_id in page["svgs"]:
                    element = browser.find_element(By.ID, svg_id)
                    browser.execute_script("arguments[0].scrollIntoView();", element)
                    png = element.screenshot_as_png
                    with open(os.path.join(shots, f"{name}-{svg_id}.png"), "wb") as out:
                        out.write(png)
                    width, height, colored = colored_pixels(png)
                    result["charts"][svg_id] = {"width": width, "height": height, "colored": colored}
            except Exception as error:  # reported to the Swift test
                result["error"] = f"{type(error).__name__}: {error}"
            results[name] = result
    finally:
        browser.quit()
    json.dump(results, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()

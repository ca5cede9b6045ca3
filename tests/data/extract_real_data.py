"""Rebuild the real-data CSVs of this folder from the files the packages ship (see README.md here).

Run once by hand, not by the tests::

    pip download --no-deps pvlib==0.16.1 sktime==1.2.0 && pip download --no-deps --no-binary :all: gpxpy==1.6.2
    unzip pvlib-0.16.1-*.whl pvlib/data/12839.tm2; unzip sktime-1.2.0-*.whl 'sktime/datasets/data/BasicMotions/*'
    tar xzf gpxpy-1.6.2.tar.gz gpxpy-1.6.2/test_files/around-visnjan-with-car.gpx
    python tests/data/extract_real_data.py DIR   # DIR holds the three unpacked trees

Values are copied, not changed: TMY2 fields are decoded from their fixed-width tenths into
units and keep their source flags; the GPX points keep their times and coordinates; the
BasicMotions accelerometer samples keep their six decimals, rounded to three.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

# pvlib.iotools.read_tmy2's field layout of one TMY2 hour (after the leading space).
_TMY2_FMT = ("%2d%2d%2d%2d%4d%4d%4d%1s%1d%4d%1s%1d%4d%1s%1d%4d%1s%1d%4d%1s%1d%4d%1s%1d%4d%1s%1d%2d%1s%1d%2d%1s%1d"
             "%4d%1s%1d%4d%1s%1d%3d%1s%1d%4d%1s%1d%3d%1s%1d%3d%1s%1d%4d%1s%1d%5d%1s%1d%10d%3d%1s%1d%3d%1s%1d"
             "%3d%1s%1d%2d%1s%1d")
_TMY2_COLS = ("year month day hour ETR ETRN GHI GHIS GHIU DNI DNIS DNIU DHI DHIS DHIU GHil GHilS GHilU DNil DNilS "
              "DNilU DHil DHilS DHilU Zlum ZlumS ZlumU TotCld TotCldS TotCldU OpqCld OpqCldS OpqCldU DryBulb "
              "DryBulbS DryBulbU DewPoint DewPointS DewPointU RHum RHumS RHumU Pressure PressureS PressureU Wdir "
              "WdirS WdirU Wspd WspdS WspdU Hvis HvisS HvisU CeilHgt CeilHgtS CeilHgtU PresentWeather Pwat PwatS "
              "PwatU AOD AODS AODU SnowDepth SnowDepthS SnowDepthU LastSnow LastSnowS LastSnowU").split()


def tmy2_rows(path: Path) -> list[dict[str, str]]:
    widths = [int(w) for w in re.findall(r"%(\d+)[ds]", _TMY2_FMT)]
    rows = []
    for line in path.read_text().splitlines()[1:]:
        i, row = 1, {}
        for width, name in zip(widths, _TMY2_COLS):
            row[name] = line[i:i + width].strip()
            i += width
        rows.append(row)
    return rows


def weather(src: Path, out: Path) -> None:
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["month", "day", "hour_ending_lst", "etr_w_m2", "ghi_w_m2", "ghi_src", "dry_bulb_c", "dry_bulb_src",
                    "dew_point_c", "dew_point_src", "rh_pct", "rh_src", "wind_ms", "wind_src", "visibility_km",
                    "visibility_src"])
        for r in tmy2_rows(src):
            if r["month"] not in ("07", "08"):
                continue
            w.writerow([int(r["month"]), int(r["day"]), int(r["hour"]), int(r["ETR"]), int(r["GHI"]), r["GHIS"],
                        int(r["DryBulb"]) / 10, r["DryBulbS"], int(r["DewPoint"]) / 10, r["DewPointS"],
                        int(r["RHum"]), r["RHumS"], int(r["Wspd"]) / 10, r["WspdS"], int(r["Hvis"]) / 10, r["HvisS"]])


def track(src: Path, out: Path) -> None:
    text = src.read_text()
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_utc", "lat", "lon"])
        for lat, lon, time in re.findall(r'<trkpt lat="([-\d.]+)" lon="([-\d.]+)">.*?<time>(.*?)</time>', text, re.S):
            w.writerow([time, lat, lon])


def accel(src: Path, out: Path) -> None:
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["recording", "activity", "sample", "ax", "ay", "az"])
        lines = [ln.strip() for ln in src.read_text().splitlines() if ln.strip() and ln[0] not in "#@"]
        for n, line in enumerate(lines):
            *dims, label = line.split(":")
            if label not in ("Walking", "Badminton"):
                continue
            ax, ay, az = ([float(v) for v in d.split(",")] for d in dims[:3])
            for i, (x, y, z) in enumerate(zip(ax, ay, az)):
                w.writerow([n, label.lower(), i, round(x, 3), round(y, 3), round(z, 3)])


if __name__ == "__main__":
    root, here = Path(sys.argv[1]), Path(__file__).resolve().parent
    weather(root / "pvlib/data/12839.tm2", here / "miami_tmy2_jul_aug.csv")
    track(root / "gpxpy-1.6.2/test_files/around-visnjan-with-car.gpx", here / "visnjan_drive_gpx.csv")
    accel(root / "sktime/datasets/data/BasicMotions/BasicMotions_TRAIN.ts", here / "basicmotions_accel.csv")

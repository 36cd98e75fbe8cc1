"""The demo corpus's text documents: HTML handbook, Markdown FAQ, a press release and regional field notes."""

from __future__ import annotations

import random

from . import content as C

CHART_NUMBERS = {v for chart in C.CHARTS for v in chart[4]}


def handbook_html() -> str:
    rows = "\n".join(f"      <tr><td>{c}</td><td>{p}</td><td>{m}</td><td>{y}</td><td>{cap:,}</td></tr>"
                     for c, p, m, y, cap in C.PLANTS)
    plants = "\n".join(
        f"  <h3>{c}</h3>\n  <p>The {c} plant builds the {p}. It is managed by {m} and opened in {y}. At full "
        f"capacity it can build {cap:,} units a month; quality checks happen on the line and again before "
        "shipping.</p>" for c, p, m, y, cap in C.PLANTS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{C.COMPANY} operations handbook</title>
<style>body {{ font-family: sans-serif; }}</style><script>var tracking = "ignored";</script></head>
<body>
<nav><a href="#plants">Plants</a> | <a href="#safety">Safety</a></nav>
<h1>{C.COMPANY} operations handbook</h1>
<p>This handbook describes where our products are built, who is responsible for each plant, and the procedures
every site follows.</p>
<h2 id="plants">Plants</h2>
<table>
  <caption>Plants and what they build</caption>
  <thead><tr><th>Plant</th><th>Product</th><th>Manager</th><th>Opened</th><th>Monthly capacity</th></tr></thead>
  <tbody>
{rows}
  </tbody>
</table>
{plants}
<h2 id="safety">Safety procedures</h2>
<p>Every drone leaves the line with a signed test-flight record. Batteries are stored at 40 to 60 percent
charge in fire-rated cabinets, and no battery older than its rated cycle count is shipped as new.</p>
<ul>
  <li>Test flights take place in the netted hall, never outdoors.</li>
  <li>Spray tanks are rinsed three times before maintenance.</li>
  <li>Incidents are reported to the plant manager within one hour.</li>
</ul>
<h2>Logistics</h2>
<p>Finished drones leave Tartu and Gdansk by road; Rootline sensors leave Porto by sea in consolidated containers.
Our logistics partner consolidates shipments to North America in Rotterdam.</p>
</body>
</html>
"""


def faq_markdown() -> str:
    table = "\n".join(f"| {p} | {a} | {b} | {price} |" for p, a, b, price in C.SPECS)
    return f"""---
title: Product FAQ
---
# {C.COMPANY} product FAQ

Answers to the questions customers ask most about our products.

## Specifications

| Product | Endurance | Payload or sensors | Price |
|---|---|---|---|
{table}

## Who builds the Harvest-X?

The Harvest-X is designed in Tartu. Its lead engineer is {C.PEOPLE['lead_engineer']}, who joined from the Skylark
team in 2020. Since then the Harvest-X has gained an obstacle radar and a quick-swap battery.

## Can the Skylark S2 fly in rain?

Yes, in light rain. The Skylark S2 is rated IP43; it should not fly in thunderstorms or when gusts exceed
12 metres per second.

## How do Rootline sensors report?

Each sensor sends a reading every hour over LoRaWAN to a gateway, which forwards it to Nimbus Hub. A gateway
covers about 15 square kilometres of open farmland.

## What does Nimbus Hub cost?

Nimbus Hub is billed per drone and per month; see the table above. Rootline sensors are included at no extra
charge when the farm also subscribes for at least one drone.

![Harvest-X on a test flight](missing-photo.jpg "Harvest-X test flight")
"""


def press_release() -> str:
    return f"""PRESS RELEASE - Tallinn, 3 March 2025

{C.COMPANY} receives its largest order to date

The AgriNord cooperative has ordered 1,000 Harvest-X drones in March 2025, to be delivered over two seasons to
member farms in Sweden, Finland and Norway. The order includes Nimbus Hub subscriptions for every drone.

"Cooperatives buy as one, and they expect the fleet to work as one," said {C.PEOPLE['ceo']}, chief executive of
{C.COMPANY}.

The company also announced that {C.PEOPLE['cfo']} has joined as chief financial officer. He previously led
finance at a Baltic logistics group.

About {C.COMPANY}: founded in Tartu in 2011, {C.COMPANY} designs and builds drones and sensors for agriculture.
"""


def field_notes() -> dict[str, str]:
    """Twenty short regional field reports (one per region and quarter), deterministic."""
    rng = random.Random(2024)
    notes = {}
    for region, details in C.REGION_DETAILS.items():
        for quarter in ("Q1", "Q2", "Q3", "Q4"):
            name = f"{region.lower().replace(' ', '_')}_{quarter.lower()}_2024.md"
            notes[name] = _note(rng, region, quarter, details)
    return notes


def _number(rng: random.Random, low: int, high: int) -> int:
    while True:  # never print a number that a chart shows only as pixels
        value = rng.randint(low, high)
        if value not in CHART_NUMBERS:
            return value


def _note(rng: random.Random, region: str, quarter: str, details: dict) -> str:
    weather = rng.choice(["a wet start", "a dry spell", "late frost", "a mild season", "strong winds in the west"])
    hours = _number(rng, 120, 900)
    visits = _number(rng, 12, 90)
    issue = rng.choice(["nozzle clogging", "GPS drift near power lines", "late spare parts", "battery swelling in "
                        "heat", "app login problems", "propeller wear"])
    praise = rng.choice(["route planning", "the quick-swap battery", "spray accuracy", "the survey maps",
                         "support response times"])
    return f"""# Field report: {region}, {quarter} 2024

## Weather and season
The quarter brought {weather} across {region}. Work focused on {details['c']} and, for survey flights,
{details['c2']}; the season in this region runs from {details['m1']} to {details['m2']}.

## Fleet activity
Customer fleets logged about {hours} flight hours this quarter. Our technicians made {visits} farm visits,
mostly for routine maintenance and pilot refreshers. Spare parts reached farms within {details['d']} days on
average.

## Customer feedback
The most common complaint was {issue}; the most praised feature was {praise}. Two customers asked for larger
spray tanks and one for a night-flight mode.
"""

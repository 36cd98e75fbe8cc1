"""The demo corpus's facts: a fictional company, Veltora Dynamics (agricultural drones), spread over documents
so that questions need tables, chart images and more than one document. Every document is written from these
tables, and facts.json lists them with where each one lives."""

from __future__ import annotations

COMPANY = "Veltora Dynamics"

# -- the annual report (PDF) -------------------------------------------------------------------------------------
PRODUCTS = ["Harvest-X", "Skylark S2", "Rootline", "Nimbus Hub"]
REVENUE = {  # EUR million; only in the PDF's table
    "Harvest-X": (41.5, 48.2), "Skylark S2": (27.3, 31.7), "Rootline": (10.1, 12.9), "Nimbus Hub": (6.8, 9.4)}
REGIONS = ["Nordics", "Baltics", "Central Europe", "Iberia", "North America"]

# charts whose values exist only as pixels: (file stem, title, caption, x labels, values, unit)
CHARTS = [
    ("chart_units_2024", "Units shipped by region, 2024", "Figure 2. Units shipped by region in 2024.",
     REGIONS, [7340, 4215, 9860, 2975, 5430], "units"),
    ("chart_units_2023", "Units shipped by region, 2023", "Figure 3. Units shipped by region in 2023.",
     REGIONS, [6120, 3980, 8410, 2310, 4870], "units"),
    ("chart_battery", "Battery cycle life by model", "Figure 4. Battery cycle life of each drone model.",
     ["Harvest-X", "Skylark S2", "Harvest-X Lite", "Skylark S1"], [1450, 2080, 1190, 1620], "cycles"),
    ("chart_csat", "Customer satisfaction by quarter, 2024", "Figure 5. Customer satisfaction score by quarter.",
     ["Q1", "Q2", "Q3", "Q4"], [81, 84, 79, 88], "score"),
    ("chart_headcount", "R&D headcount by site", "Figure 6. Research and development staff at each site.",
     ["Tartu", "Tallinn", "Gdansk", "Porto"], [142, 96, 58, 37], "people"),
]

# -- the operations handbook (HTML) ------------------------------------------------------------------------------
PLANTS = [  # (city, product, manager, opened, monthly capacity)
    ("Tartu", "Harvest-X", "Jonas Pärn", 2014, 1200),
    ("Gdansk", "Skylark S2", "Agnieszka Wolny", 2017, 650),
    ("Porto", "Rootline", "Tiago Ramos", 2022, 4000),
]

# -- the product FAQ (Markdown) ----------------------------------------------------------------------------------
SPECS = [  # (product, flight time or battery life, payload or sensor, price)
    ("Harvest-X", "22 minutes of flight", "a 40-litre spray tank", "EUR 18,900"),
    ("Skylark S2", "55 minutes of flight", "a 61-megapixel survey camera", "EUR 12,400"),
    ("Rootline", "a 5-year sensor battery", "soil moisture and nitrate probes", "EUR 240 per sensor"),
    ("Nimbus Hub", "no battery (cloud software)", "fleet planning for up to 500 drones", "EUR 35 per drone per month"),
]

PEOPLE = {"ceo": "Mirela Kask", "cfo": "Henrik Saar", "cto": "Dace Ozola", "lead_engineer": "Oskar Lind"}

# facts: (id, statement, document, anchor, where: text | table | chart | picture | slide, only_there); the anchor
# locates the fact's page: a string printed on that PDF page (the writer looks it up), a slide number, or None
REPORT = "annual_report_2024.pdf"


def _key(name: str) -> str:
    return name.lower().replace(" ", "_").replace("-", "_")


FACTS = [
    ("founded", f"{COMPANY} was founded in 2011 in Tartu, Estonia, by Mirela Kask.", REPORT, "was founded in 2011",
     "text", False),
    ("hq", f"{COMPANY} moved its headquarters to Tallinn in 2019.", REPORT, "moved our headquarters", "text", False),
    ("ceo", "Mirela Kask is the chief executive officer.", REPORT, "remains our chief executive", "text", False),
    *[(f"revenue_2024_{_key(p)}", f"{p} revenue was EUR {REVENUE[p][1]} million in 2024 (EUR {REVENUE[p][0]} "
       "million in 2023).", REPORT, "Table 1.", "table", True) for p in PRODUCTS],
    *[(f"units_2024_{_key(r)}", f"{COMPANY} shipped {v:,} units to {r} in 2024.", REPORT, CHARTS[0][2], "chart",
       True) for r, v in zip(REGIONS, CHARTS[0][4])],
    *[(f"units_2023_{_key(r)}", f"{COMPANY} shipped {v:,} units to {r} in 2023.", REPORT, CHARTS[1][2], "chart",
       True) for r, v in zip(REGIONS, CHARTS[1][4])],
    *[(f"battery_{_key(m)}", f"The {m} battery lasts {v:,} charge cycles.", REPORT, CHARTS[2][2], "chart", True)
      for m, v in zip(CHARTS[2][3], CHARTS[2][4])],
    *[(f"csat_{_key(q)}", f"Customer satisfaction in {q} 2024 was {v}.", REPORT, CHARTS[3][2], "chart", True)
      for q, v in zip(CHARTS[3][3], CHARTS[3][4])],
    *[(f"rd_{_key(s)}", f"The {s} site has {v} research and development staff.", REPORT, CHARTS[4][2], "chart",
       True) for s, v in zip(CHARTS[4][3], CHARTS[4][4])],
    *[(f"plant_{_key(c)}", f"The {c} plant builds the {p}, is managed by {m}, opened in {y} and can build {cap:,} "
       "units a month.", "operations_handbook.html", None, "table", False) for c, p, m, y, cap in PLANTS],
    *[(f"spec_{_key(p)}", f"The {p} offers {a}, {b}, and costs {price}.", "product_faq.md", None, "text", False)
      for p, a, b, price in SPECS],
    ("lead_engineer", "Oskar Lind is the lead engineer of the Harvest-X; he joined from the Skylark team in 2020.",
     "product_faq.md", None, "text", False),
    ("agrinord", "The AgriNord cooperative ordered 1,000 Harvest-X drones in March 2025.", "press_release.txt",
     None, "text", False),
    ("cfo", "Henrik Saar is the chief financial officer.", "press_release.txt", None, "text", False),
    ("cto", "Dace Ozola is the chief technology officer.", "org_chart.png", None, "picture", True),
    ("expansion", "The board approved a EUR 6.5 million expansion of the Gdansk plant.", "board_minutes_2024.docx",
     None, "text", False),
    ("dividend", "The board approved a dividend of EUR 0.42 per share.", "board_minutes_2024.docx", None, "table",
     True),
    ("target_2025", f"{COMPANY} targets 40,000 units shipped in 2025.", "investor_deck.pptx", 2, "slide", False),
]

# multi-hop chains over the facts: (question, answer, fact ids in hop order)
CHAINS = [
    ("Who manages the plant that builds the product line with the highest 2024 revenue?", "Jonas Pärn",
     ["revenue_2024_harvest_x", "plant_tartu"]),
    ("How long can the product built in Gdansk fly?", "55 minutes", ["plant_gdansk", "spec_skylark_s2"]),
    ("How many charge cycles does the battery of the drone built in Gdansk last?", "2,080",
     ["plant_gdansk", "battery_skylark_s2"]),
    ("How many research and development staff work at the site where the company was founded?", "142",
     ["founded", "rd_tartu"]),
    ("What did the 2024 revenue of the product that Oskar Lind leads amount to?", "EUR 48.2 million",
     ["lead_engineer", "revenue_2024_harvest_x"]),
    ("How many units did Veltora ship to Central Europe in 2024?", "9,860", ["units_2024_central_europe"]),
    ("In which year did the plant that makes soil sensors open?", "2022", ["plant_porto"]),
]

# prose: (section, [paragraphs]); numbers in prose never repeat the chart values
REPORT_SECTIONS = [
    ("Letter from the chief executive", [
        f"{COMPANY} was founded in 2011 in Tartu, Estonia, by Mirela Kask, who remains our chief executive officer. "
        "What began as a two-person workshop building spraying rigs for local farms is now a company that designs, "
        "builds and services drones for agriculture across Europe and North America.",
        "In 2019 we moved our headquarters to Tallinn to be closer to our largest customers and to the port. Our "
        "engineering roots stay in Tartu, where the first Harvest-X was assembled and where most of our research "
        "staff still work.",
        "The year 2024 was one of steady growth. Every product line grew its revenue, our service network reached "
        "new regions, and we opened talks with three cooperatives about multi-year fleet contracts.",
    ]),
    ("Our products", [
        "The Harvest-X is a crop-spraying drone for orchards and row crops. It carries a spray tank, flies "
        "pre-planned routes and returns to its charging station without an operator.",
        "The Skylark S2 is a fixed-wing survey drone. Farmers and agronomists use its camera to map crop health, "
        "count plants and plan fertiliser use field by field.",
        "Rootline is a network of soil sensors that report moisture and nutrients every hour. The sensors feed the "
        "same planning software as the drones.",
        "Nimbus Hub is our fleet software. It plans missions, schedules maintenance and keeps the records that "
        "regulators ask for.",
    ]),
    ("Financial results", [
        "Revenue for each product line is shown in Table 1. The Harvest-X remained our largest line, and the "
        "Nimbus Hub subscription grew fastest in relative terms.",
        "Gross margin improved as the Tartu plant moved to a second shift and as the share of software revenue "
        "rose. Operating costs grew more slowly than revenue.",
    ]),
    ("Shipments and customers", [
        "Figures 2 and 3 compare shipments by region in the last two years. Central Europe stayed our largest "
        "market, while North America grew fastest after the opening of a service centre in Iowa.",
        "Customer satisfaction, measured every quarter by an independent survey, is shown in Figure 5. The dip in "
        "the third quarter followed a delayed software release and recovered by the end of the year.",
    ]),
    ("Research and development", [
        "Battery life is the single most requested improvement. Figure 4 shows how many full charge cycles each "
        "model's battery pack lasts before its capacity falls below eighty percent.",
        "Our research staff work at four sites; Figure 6 shows the headcount at each. Tartu hosts flight control "
        "and battery research, Tallinn software, Gdansk airframes and Porto sensors.",
    ]),
]

REGION_NOTES_TOPICS = [
    ("dealer network", "Dealers in {r} sell and service our drones; two regional trainers run pilot courses "
     "every spring, and spare parts reach most farms within {d} days."),
    ("regulation", "Flights beyond visual line of sight need a permit in {r}. Our compliance team files the "
     "paperwork for customers and keeps flight logs for {y} years, as local rules require."),
    ("crops", "In {r} the Harvest-X mostly sprays {c}, while survey flights with the Skylark S2 concentrate on "
     "{c2}. The season runs from {m1} to {m2}."),
    ("outlook", "For {r} we expect demand to follow farm incomes. Cooperative purchasing is common there, which "
     "favours fleet contracts that bundle drones, sensors and Nimbus Hub licences."),
]
REGION_DETAILS = {
    "Nordics": dict(d=3, y=5, c="potatoes and oilseed rape", c2="barley", m1="May", m2="September"),
    "Baltics": dict(d=2, y=3, c="rapeseed", c2="wheat", m1="April", m2="September"),
    "Central Europe": dict(d=2, y=4, c="orchards and vineyards", c2="maize", m1="March", m2="October"),
    "Iberia": dict(d=4, y=5, c="olive groves and vineyards", c2="citrus", m1="February", m2="November"),
    "North America": dict(d=5, y=3, c="soybeans and maize", c2="cotton", m1="April", m2="October"),
}

"""Two small SQLite databases with questions and gold SQL, written in the Spider layout (`llmopt demo-data`):

    sql/database/bookshop/bookshop.sqlite        authors, books, customers, orders, order_items
    sql/database/university/university.sqlite    departments, instructors, students, courses, enrollments
    sql/dev.json                                  questions with gold SQL for both (Spider's fields)
    sql/tables.json                               both schemas in Spider's tables.json format
    sql/examples.jsonl                            the same questions as an example pool

Each database's questions are the other's example pool, so `llmopt sql eval --spider DIR/sql` runs as is.
The data are generated from fixed lists with a seeded RNG: the same bytes every time. Numeric columns used to
rank (price, pages, salary, budget, gpa) hold distinct values, so "the most ..." questions have one answer.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

from ..paths import atomic_write_bytes, atomic_write_text
from . import writer

FIRST = ["Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Keiko", "Luca",
         "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wim", "Ximena", "Yusuf",
         "Zoe"]
LAST = ["Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova", "Jensen",
        "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quispe", "Rossi", "Schmidt", "Tanaka"]

BOOKSHOP_SCHEMA = """
CREATE TABLE authors (author_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT, birth_year INTEGER);
CREATE TABLE books (book_id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER REFERENCES authors(author_id),
  genre TEXT, price REAL, published_year INTEGER, pages INTEGER);
CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, joined_year INTEGER);
CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(customer_id),
  order_date TEXT, status TEXT);
CREATE TABLE order_items (order_id INTEGER REFERENCES orders(order_id), book_id INTEGER REFERENCES books(book_id),
  quantity INTEGER, PRIMARY KEY (order_id, book_id));
"""

UNIVERSITY_SCHEMA = """
CREATE TABLE departments (dept_id INTEGER PRIMARY KEY, name TEXT NOT NULL, building TEXT, budget REAL);
CREATE TABLE instructors (instructor_id INTEGER PRIMARY KEY, name TEXT NOT NULL,
  dept_id INTEGER REFERENCES departments(dept_id), salary REAL, hire_year INTEGER);
CREATE TABLE students (student_id INTEGER PRIMARY KEY, name TEXT NOT NULL,
  dept_id INTEGER REFERENCES departments(dept_id), year INTEGER, gpa REAL);
CREATE TABLE courses (course_id INTEGER PRIMARY KEY, title TEXT NOT NULL,
  dept_id INTEGER REFERENCES departments(dept_id), credits INTEGER,
  instructor_id INTEGER REFERENCES instructors(instructor_id));
CREATE TABLE enrollments (student_id INTEGER REFERENCES students(student_id),
  course_id INTEGER REFERENCES courses(course_id), grade TEXT, PRIMARY KEY (student_id, course_id));
"""


def _people(rng: random.Random, n: int) -> list[str]:
    names = [f"{f} {l}" for f in FIRST for l in LAST]
    return rng.sample(names, n)


def _distinct_values(rng: random.Random, n: int, start: float, step: float, digits: int = 2) -> list[float]:
    values = [round(start + i * step, digits) for i in range(n)]
    rng.shuffle(values)
    return values


def bookshop_rows(rng: random.Random) -> dict[str, list[tuple]]:
    countries = ["Canada", "United Kingdom", "Brazil", "Japan", "Canada", "Nigeria", "United Kingdom", "Sweden",
                 "Brazil", "Canada", "Japan", "United Kingdom"]
    authors = [(i + 1, name, countries[i], 1940 + (i * 7) % 55) for i, name in enumerate(_people(rng, 12))]
    genres = ["Fantasy", "Mystery", "Science Fiction", "Romance", "History"]
    words = ["Silent", "Iron", "Hidden", "Last", "Golden", "Broken", "Northern", "Glass", "Winter", "Distant"]
    nouns = ["River", "Crown", "Garden", "Signal", "Harbor", "Mirror", "Forest", "Archive", "Engine", "Voyage"]
    titles = rng.sample([f"The {w} {n}" for w in words for n in nouns], 30)
    prices = _distinct_values(rng, 30, 7.5, 0.85)
    pages = [int(p) for p in _distinct_values(rng, 30, 180, 13, 0)]
    books = [(i + 1, titles[i], 1 + (i * 5) % 12, genres[(i * 3) % 5], prices[i], 1985 + (i * 11) % 38, pages[i])
             for i in range(30)]
    cities = ["Lisbon"] * 5 + ["Oslo"] * 4 + ["Nairobi"] * 3 + ["Osaka"] * 2 + ["Quito"]
    customers = [(i + 1, name, cities[i], 2015 + i % 9) for i, name in enumerate(_people(rng, 15))]
    statuses = ["shipped", "shipped", "pending", "shipped", "cancelled"]
    orders = [(i + 1, 1 + (i * 7) % 13, f"{2021 + i % 4}-{1 + (i * 5) % 12:02d}-{1 + (i * 3) % 28:02d}",
               statuses[i % 5]) for i in range(40)]
    items = []
    for order_id in range(1, 41):
        for book_id in sorted(rng.sample(range(1, 28), 1 + order_id % 3)):  # books 28-30 are never ordered
            items.append((order_id, book_id, 1 + rng.randrange(3)))
    return {"authors": authors, "books": books, "customers": customers, "orders": orders, "order_items": items}


def university_rows(rng: random.Random) -> dict[str, list[tuple]]:
    departments = [(1, "Computer Science", "Turing Hall", 0), (2, "Physics", "Curie Hall", 0),
                   (3, "Mathematics", "Noether Hall", 0), (4, "History", "Turing Hall", 0),
                   (5, "Biology", "Darwin Hall", 0), (6, "Philosophy", "Curie Hall", 0)]
    budgets = _distinct_values(rng, 6, 250000, 85000, 0)
    departments = [(d, n, b, budgets[i]) for i, (d, n, b, _) in enumerate(departments)]
    salaries = _distinct_values(rng, 15, 52000, 3700, 0)
    instructors = [(i + 1, name, 1 + i % 5, salaries[i], 2005 + (i * 3) % 18)  # Philosophy has no instructor
                   for i, name in enumerate(_people(rng, 15))]
    gpas = _distinct_values(rng, 40, 1.9, 0.05)
    student_depts = [1] * 12 + [2] * 8 + [3] * 7 + [4] * 5 + [5] * 6 + [6] * 2
    students = [(i + 1, name, student_depts[i], 1 + (i * 3) % 4, gpas[i])
                for i, name in enumerate(_people(rng, 40))]
    titles = [("Databases", 1), ("Algorithms", 1), ("Operating Systems", 1), ("Machine Learning", 1),
              ("Mechanics", 2), ("Quantum Physics", 2), ("Optics", 2), ("Linear Algebra", 3), ("Calculus", 3),
              ("Probability", 3), ("Medieval Europe", 4), ("Modern China", 4), ("Genetics", 5), ("Ecology", 5),
              ("Cell Biology", 5), ("Ethics", 6), ("Logic", 6), ("Compilers", 1)]
    teachers = {d: [i[0] for i in instructors if i[2] == d] for d in range(1, 6)}
    teachers[6] = teachers[3]  # Philosophy has no instructors of its own: Mathematics teaches its courses
    courses = [(i + 1, title, dept, 4 if i % 3 == 0 else 3, teachers[dept][i % len(teachers[dept])])
               for i, (title, dept) in enumerate(titles)]
    grades = ["A", "B", "B", "C", "A", "D", "B", "C", "F"]
    enrollments = []
    for student_id in range(1, 38):  # students 38-40 take no course
        for course_id in sorted(rng.sample(range(1, 19), 2 + student_id % 3)):
            enrollments.append((student_id, course_id, grades[rng.randrange(len(grades))]))
    return {"departments": departments, "instructors": instructors, "students": students, "courses": courses,
            "enrollments": enrollments}


# (question, gold SQL): every level of Spider hardness, joins, grouping, nesting and set operations
BOOKSHOP_QUESTIONS = [
    ("How many authors are there?", "SELECT count(*) FROM authors"),
    ("List the titles of all books in the Fantasy genre.", "SELECT title FROM books WHERE genre = 'Fantasy'"),
    ("What are the names of the customers who live in Lisbon?", "SELECT name FROM customers WHERE city = 'Lisbon'"),
    ("What is the average price of a book?", "SELECT avg(price) FROM books"),
    ("List the different book genres.", "SELECT DISTINCT genre FROM books"),
    ("How many orders are pending?", "SELECT count(*) FROM orders WHERE status = 'pending'"),
    ("What is the price of the most expensive book?", "SELECT max(price) FROM books"),
    ("List the title and price of every book from the cheapest to the most expensive.",
     "SELECT title, price FROM books ORDER BY price"),
    ("How many books are there in each genre?", "SELECT genre, count(*) FROM books GROUP BY genre"),
    ("What is the title of the book with the most pages?", "SELECT title FROM books ORDER BY pages DESC LIMIT 1"),
    ("List the titles of the books written by authors from Canada.",
     "SELECT T1.title FROM books AS T1 JOIN authors AS T2 ON T1.author_id = T2.author_id WHERE T2.country = 'Canada'"),
    ("Give the name and country of the authors born before 1960.",
     "SELECT name, country FROM authors WHERE birth_year < 1960"),
    ("How many customers live in each city?", "SELECT city, count(*) FROM customers GROUP BY city"),
    ("Show the name of each author and the number of books they wrote.",
     "SELECT T2.name, count(*) FROM books AS T1 JOIN authors AS T2 ON T1.author_id = T2.author_id "
     "GROUP BY T2.author_id"),
    ("Which genres have an average book price above 20?",
     "SELECT genre FROM books GROUP BY genre HAVING avg(price) > 20"),
    ("List the titles of the books that have never been ordered.",
     "SELECT title FROM books WHERE book_id NOT IN (SELECT book_id FROM order_items)"),
    ("What are the names of the customers who placed at least 4 orders?",
     "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id "
     "GROUP BY T1.customer_id HAVING count(*) >= 4"),
    ("For each genre, what is the total quantity of books sold in shipped orders?",
     "SELECT T1.genre, sum(T2.quantity) FROM books AS T1 JOIN order_items AS T2 ON T1.book_id = T2.book_id "
     "JOIN orders AS T3 ON T2.order_id = T3.order_id WHERE T3.status = 'shipped' GROUP BY T1.genre"),
    ("List the names of the authors who wrote both a Fantasy book and a Mystery book.",
     "SELECT T2.name FROM books AS T1 JOIN authors AS T2 ON T1.author_id = T2.author_id WHERE T1.genre = 'Fantasy' "
     "INTERSECT SELECT T2.name FROM books AS T1 JOIN authors AS T2 ON T1.author_id = T2.author_id "
     "WHERE T1.genre = 'Mystery'"),
    ("What is the title of the most expensive book written by an author from the United Kingdom?",
     "SELECT T1.title FROM books AS T1 JOIN authors AS T2 ON T1.author_id = T2.author_id "
     "WHERE T2.country = 'United Kingdom' ORDER BY T1.price DESC LIMIT 1"),
    ("How many books cost more than the average book price?",
     "SELECT count(*) FROM books WHERE price > (SELECT avg(price) FROM books)"),
    ("Which city has the most customers?", "SELECT city FROM customers GROUP BY city ORDER BY count(*) DESC LIMIT 1"),
    ("List the ids of the orders placed in 2023 that were shipped.",
     "SELECT order_id FROM orders WHERE order_date LIKE '2023%' AND status = 'shipped'"),
    ("What is the name of the customer with the largest number of orders?",
     "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id "
     "GROUP BY T1.customer_id ORDER BY count(*) DESC LIMIT 1"),
]

UNIVERSITY_QUESTIONS = [
    ("How many students are there?", "SELECT count(*) FROM students"),
    ("List the names of all departments.", "SELECT name FROM departments"),
    ("What are the titles of the courses worth 4 credits?", "SELECT title FROM courses WHERE credits = 4"),
    ("What is the highest salary of an instructor?", "SELECT max(salary) FROM instructors"),
    ("List the names of the first-year students.", "SELECT name FROM students WHERE year = 1"),
    ("What is the average GPA of the students?", "SELECT avg(gpa) FROM students"),
    ("List the names of the instructors from the highest paid to the lowest paid.",
     "SELECT name FROM instructors ORDER BY salary DESC"),
    ("How many students does each department have? Give the department name and the count.",
     "SELECT T2.name, count(*) FROM students AS T1 JOIN departments AS T2 ON T1.dept_id = T2.dept_id "
     "GROUP BY T2.dept_id"),
    ("Which department has the largest budget?", "SELECT name FROM departments ORDER BY budget DESC LIMIT 1"),
    ("List the titles of the courses offered by the Physics department.",
     "SELECT T1.title FROM courses AS T1 JOIN departments AS T2 ON T1.dept_id = T2.dept_id WHERE T2.name = 'Physics'"),
    ("What is the name of the student with the highest GPA?", "SELECT name FROM students ORDER BY gpa DESC LIMIT 1"),
    ("Which instructors were hired after 2012 and earn more than 70000? Give their names.",
     "SELECT name FROM instructors WHERE hire_year > 2012 AND salary > 70000"),
    ("How many students are enrolled in each course? Give the course title and the count.",
     "SELECT T2.title, count(*) FROM enrollments AS T1 JOIN courses AS T2 ON T1.course_id = T2.course_id "
     "GROUP BY T1.course_id"),
    ("What are the names of the students who got an A in Databases?",
     "SELECT T1.name FROM students AS T1 JOIN enrollments AS T2 ON T1.student_id = T2.student_id "
     "JOIN courses AS T3 ON T2.course_id = T3.course_id WHERE T3.title = 'Databases' AND T2.grade = 'A'"),
    ("Which departments have more than 6 students? Give their names.",
     "SELECT T2.name FROM students AS T1 JOIN departments AS T2 ON T1.dept_id = T2.dept_id GROUP BY T2.dept_id "
     "HAVING count(*) > 6"),
    ("List the names of the students who are not enrolled in any course.",
     "SELECT name FROM students WHERE student_id NOT IN (SELECT student_id FROM enrollments)"),
    ("What is the average instructor salary in each department? Give the department name and the average.",
     "SELECT T2.name, avg(T1.salary) FROM instructors AS T1 JOIN departments AS T2 ON T1.dept_id = T2.dept_id "
     "GROUP BY T2.dept_id"),
    ("How many students have a GPA above the average GPA?",
     "SELECT count(*) FROM students WHERE gpa > (SELECT avg(gpa) FROM students)"),
    ("List the names of the students enrolled in both Databases and Operating Systems.",
     "SELECT T1.name FROM students AS T1 JOIN enrollments AS T2 ON T1.student_id = T2.student_id "
     "JOIN courses AS T3 ON T2.course_id = T3.course_id WHERE T3.title = 'Databases' INTERSECT "
     "SELECT T1.name FROM students AS T1 JOIN enrollments AS T2 ON T1.student_id = T2.student_id "
     "JOIN courses AS T3 ON T2.course_id = T3.course_id WHERE T3.title = 'Operating Systems'"),
    ("Which departments have no instructors? Give their names.",
     "SELECT name FROM departments WHERE dept_id NOT IN (SELECT dept_id FROM instructors)"),
    ("Which buildings house more than one department?",
     "SELECT building FROM departments GROUP BY building HAVING count(*) > 1"),
    ("What is the total number of credits each Computer Science student is enrolled in? Give the student name "
     "and the total.",
     "SELECT T1.name, sum(T3.credits) FROM students AS T1 JOIN enrollments AS T2 ON T1.student_id = T2.student_id "
     "JOIN courses AS T3 ON T2.course_id = T3.course_id JOIN departments AS T4 ON T1.dept_id = T4.dept_id "
     "WHERE T4.name = 'Computer Science' GROUP BY T1.student_id"),
    ("How many courses does the department with the largest budget offer?",
     "SELECT count(*) FROM courses WHERE dept_id = (SELECT dept_id FROM departments ORDER BY budget DESC LIMIT 1)"),
    ("What are the names of the students with a GPA above 2.7 in the Mathematics department?",
     "SELECT T1.name FROM students AS T1 JOIN departments AS T2 ON T1.dept_id = T2.dept_id "
     "WHERE T2.name = 'Mathematics' AND T1.gpa > 2.7"),
]

DATABASES = {
    "bookshop": (BOOKSHOP_SCHEMA, bookshop_rows, BOOKSHOP_QUESTIONS, 6),
    "university": (UNIVERSITY_SCHEMA, university_rows, UNIVERSITY_QUESTIONS, 7),
}


def build_database(path: Path, schema: str, rows: dict[str, list[tuple]]) -> None:
    """Write a SQLite file atomically (built in memory, then copied): the same rows give the same bytes."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(schema)
    for table, values in rows.items():
        marks = ", ".join("?" * len(values[0]))
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
    conn.commit()
    data = conn.serialize()
    conn.close()
    atomic_write_bytes(path, data)


@writer("sql")
def write(out_dir: Path) -> list[Path]:
    from ..sql.schema import read_schema

    root = Path(out_dir) / "sql"
    written, questions, tables = [], [], []
    for db_id, (schema, make_rows, items, seed) in DATABASES.items():
        path = root / "database" / db_id / f"{db_id}.sqlite"
        build_database(path, schema, make_rows(random.Random(seed)))
        written.append(path)
        tables.append(read_schema(path, sample_values=0, db_id=db_id).to_spider_tables())
        questions += [{"db_id": db_id, "question": q, "query": sql} for q, sql in items]
    for name, text in (("dev.json", json.dumps(questions, indent=1)), ("tables.json", json.dumps(tables, indent=1)),
                       ("examples.jsonl", "\n".join(json.dumps(q) for q in questions) + "\n")):
        atomic_write_text(root / name, text)
        written.append(root / name)
    return written

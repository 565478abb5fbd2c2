"""Reference values the generator draws from: places, names, the catalogue's words.

Shares and spellings follow the public TheLook dataset (China, the United States and
Brasil dominate its users; its ten distribution centres are US ports), so dashboards built on
generated data look like dashboards built on the real export.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    state: str
    latitude: float
    longitude: float
    postal_pattern: str  # '#' becomes a random digit, '@' a random capital letter


@dataclass(frozen=True)
class Country:
    name: str
    share: float
    cities: tuple[City, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "China",
        0.34,
        (
            City("Shanghai", "Shanghai", 31.23, 121.47, "200###"),
            City("Beijing", "Beijing", 39.90, 116.40, "100###"),
            City("Guangzhou", "Guangdong", 23.13, 113.26, "510###"),
            City("Shenzhen", "Guangdong", 22.54, 114.06, "518###"),
            City("Chengdu", "Sichuan", 30.66, 104.07, "610###"),
            City("Hangzhou", "Zhejiang", 30.27, 120.16, "310###"),
            City("Wuhan", "Hubei", 30.59, 114.31, "430###"),
        ),
    ),
    Country(
        "United States",
        0.22,
        (
            City("New York", "New York", 40.71, -74.01, "100##"),
            City("Los Angeles", "California", 34.05, -118.24, "900##"),
            City("Chicago", "Illinois", 41.88, -87.63, "606##"),
            City("Houston", "Texas", 29.76, -95.37, "770##"),
            City("Phoenix", "Arizona", 33.45, -112.07, "850##"),
            City("Seattle", "Washington", 47.61, -122.33, "981##"),
            City("Miami", "Florida", 25.76, -80.19, "331##"),
            City("Denver", "Colorado", 39.74, -104.99, "802##"),
        ),
    ),
    Country(
        "Brasil",
        0.145,
        (
            City("São Paulo", "São Paulo", -23.55, -46.63, "0####-###"),
            City("Rio de Janeiro", "Rio de Janeiro", -22.91, -43.17, "2####-###"),
            City("Manaus", "Amazonas", -3.12, -60.02, "69###-###"),
            City("Salvador", "Bahia", -12.97, -38.50, "4####-###"),
            City("Curitiba", "Paraná", -25.43, -49.27, "8####-###"),
        ),
    ),
    Country(
        "South Korea",
        0.05,
        (
            City("Seoul", "Seoul", 37.57, 126.98, "1##-###"),
            City("Busan", "Busan", 35.18, 129.08, "6##-###"),
            City("Incheon", "Incheon", 37.46, 126.71, "4##-###"),
        ),
    ),
    Country(
        "France",
        0.047,
        (
            City("Paris", "Île-de-France", 48.86, 2.35, "750##"),
            City("Lyon", "Auvergne-Rhône-Alpes", 45.76, 4.84, "690##"),
            City("Marseille", "Provence-Alpes-Côte d'Azur", 43.30, 5.37, "130##"),
        ),
    ),
    Country(
        "United Kingdom",
        0.046,
        (
            City("London", "England", 51.51, -0.13, "@# #@@"),
            City("Manchester", "England", 53.48, -2.24, "M## #@@"),
            City("Edinburgh", "Scotland", 55.95, -3.19, "EH# #@@"),
        ),
    ),
    Country(
        "Germany",
        0.042,
        (
            City("Berlin", "Berlin", 52.52, 13.40, "10###"),
            City("Hamburg", "Hamburg", 53.55, 9.99, "20###"),
            City("Munich", "Bayern", 48.14, 11.58, "80###"),
        ),
    ),
    Country(
        "Spain",
        0.04,
        (
            City("Madrid", "Madrid", 40.42, -3.70, "28###"),
            City("Barcelona", "Catalonia", 41.39, 2.17, "08###"),
            City("Valencia", "Valencia", 39.47, -0.38, "46###"),
        ),
    ),
    Country(
        "Japan",
        0.024,
        (
            City("Tokyo", "Tokyo", 35.68, 139.69, "1##-####"),
            City("Osaka", "Osaka", 34.69, 135.50, "5##-####"),
        ),
    ),
    Country(
        "Australia",
        0.022,
        (
            City("Sydney", "New South Wales", -33.87, 151.21, "2###"),
            City("Melbourne", "Victoria", -37.81, 144.96, "3###"),
        ),
    ),
    Country(
        "Belgium",
        0.012,
        (
            City("Brussels", "Brussels", 50.85, 4.35, "1###"),
            City("Antwerp", "Flanders", 51.22, 4.40, "2###"),
        ),
    ),
    Country("Poland", 0.002, (City("Warsaw", "Mazowieckie", 52.23, 21.01, "0#-###"),)),
    Country("Colombia", 0.002, (City("Bogotá", "Bogotá", 4.71, -74.07, "11####"),)),
    Country("Austria", 0.001, (City("Vienna", "Vienna", 48.21, 16.37, "1###"),)),
)

# TheLook's ten distribution centres: (name, latitude, longitude).
DISTRIBUTION_CENTERS: tuple[tuple[str, float, float], ...] = (
    ("Memphis TN", 35.1174, -89.9711),
    ("Chicago IL", 41.8369, -87.6847),
    ("Houston TX", 29.7604, -95.3698),
    ("Los Angeles CA", 34.0500, -118.2500),
    ("New Orleans LA", 29.9500, -90.0667),
    ("Port Authority of New York/New Jersey NY/NJ", 40.6340, -73.7834),
    ("Philadelphia PA", 39.9500, -75.1667),
    ("Mobile AL", 30.6944, -88.0431),
    ("Charleston SC", 32.7833, -79.9333),
    ("Savannah GA", 32.0167, -81.1167),
)

FIRST_NAMES_FEMALE: tuple[str, ...] = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
    "Sarah", "Karen", "Nancy", "Lisa", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly",
    "Emily", "Donna", "Michelle", "Dorothy", "Carol", "Amanda", "Melissa", "Deborah",
    "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia", "Amy", "Angela", "Anna", "Brenda",
    "Emma", "Olivia", "Sophia", "Isabella", "Mia", "Chloe", "Li", "Mei", "Yan", "Ana",
    "Camila", "Julia", "Marie", "Sofia", "Hannah", "Yuna",
)  # fmt: skip
FIRST_NAMES_MALE: tuple[str, ...] = (
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven",
    "Paul", "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald",
    "Edward", "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan",
    "Lucas", "Gabriel", "Wei", "Jun", "Hao", "Pedro", "Mateo", "Louis", "Felix", "Hiroshi",
    "Minjun", "Oliver", "Noah", "Leon", "Diego",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker",
    "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Wang", "Zhang", "Liu",
    "Chen", "Kim", "Park", "Silva", "Santos", "Müller", "Schmidt", "Dubois", "Tanaka",
)  # fmt: skip
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org")
STREET_NAMES: tuple[str, ...] = (
    "Oak", "Maple", "Cedar", "Pine", "Elm", "Lake", "Hill", "Park", "River", "Sunset",
    "Washington", "Lincoln", "Church", "Mill", "Spring", "Forest", "Meadow", "Ridge", "Valley",
    "Highland", "Chestnut", "Walnut", "Willow", "Franklin", "Jefferson", "Madison",
)  # fmt: skip
STREET_SUFFIXES: tuple[str, ...] = ("Street", "Avenue", "Road", "Lane", "Drive", "Way", "Court")

# Per department: (category, median retail price in USD, noun used in product names).
CATEGORIES: dict[str, tuple[tuple[str, float, str], ...]] = {
    "Women": (
        ("Intimates", 22.0, "Bra"),
        ("Jeans", 60.0, "Jean"),
        ("Tops & Tees", 28.0, "Top"),
        ("Fashion Hoodies & Sweatshirts", 45.0, "Hoodie"),
        ("Sweaters", 55.0, "Sweater"),
        ("Swim", 40.0, "Bikini"),
        ("Sleep & Lounge", 30.0, "Pajama Set"),
        ("Shorts", 28.0, "Short"),
        ("Accessories", 25.0, "Scarf"),
        ("Active", 35.0, "Legging"),
        ("Dresses", 65.0, "Dress"),
        ("Outerwear & Coats", 110.0, "Coat"),
        ("Pants & Capris", 45.0, "Capri"),
        ("Plus", 40.0, "Tunic"),
        ("Blazers & Jackets", 85.0, "Blazer"),
        ("Socks & Hosiery", 12.0, "Tights"),
        ("Maternity", 42.0, "Maternity Top"),
        ("Skirts", 38.0, "Skirt"),
        ("Leggings", 20.0, "Legging"),
        ("Suits", 120.0, "Suit"),
        ("Jumpsuits & Rompers", 50.0, "Romper"),
        ("Clothing Sets", 45.0, "Set"),
    ),
    "Men": (
        ("Underwear", 22.0, "Boxer Brief"),
        ("Jeans", 65.0, "Jean"),
        ("Tops & Tees", 25.0, "T-Shirt"),
        ("Fashion Hoodies & Sweatshirts", 48.0, "Hoodie"),
        ("Sweaters", 60.0, "Sweater"),
        ("Swim", 35.0, "Swim Trunk"),
        ("Sleep & Lounge", 30.0, "Lounge Pant"),
        ("Shorts", 32.0, "Short"),
        ("Accessories", 28.0, "Belt"),
        ("Active", 35.0, "Training Short"),
        ("Outerwear & Coats", 120.0, "Jacket"),
        ("Pants", 50.0, "Chino"),
        ("Socks", 12.0, "Crew Sock"),
        ("Suits & Sport Coats", 150.0, "Sport Coat"),
    ),
}
BRANDS: tuple[str, ...] = (
    "Allegra K", "Calvin Klein", "Carhartt", "Hanes", "Levi's", "Nautica", "Tommy Hilfiger",
    "Columbia", "Quiksilver", "Ralph Lauren", "Diesel", "Champion", "Dockers", "Fruit of the Loom",
    "Jockey", "Wrangler", "Lucky Brand", "Volcom", "Speedo", "Under Armour", "Nike", "adidas",
    "Puma", "Patagonia", "The North Face", "Billabong", "Roxy", "Guess", "Vince Camuto",
    "Anne Klein", "Jones New York", "Michael Kors", "Kenneth Cole", "Perry Ellis", "Van Heusen",
    "IZOD", "Haggar", "Lee", "Gildan", "Joe's Jeans", "True Religion", "7 For All Mankind",
    "Hurley", "O'Neill", "Oakley", "Spanx", "Maidenform", "Wacoal", "Betsey Johnson",
    "Free People", "Jessica Simpson", "Lauren by Ralph Lauren", "Dickies", "Timberland",
    "Pendleton", "Woolrich", "Alo Yoga", "Mossimo", "Merona", "Old Navy",
)  # fmt: skip
STYLE_WORDS: tuple[str, ...] = (
    "Classic", "Slim Fit", "Relaxed", "Essential", "Vintage", "Stretch", "Cotton", "Premium",
    "Everyday", "Heritage", "Lightweight", "Modern", "Signature", "Organic", "Performance",
    "Soft", "Tailored", "Casual", "Striped", "Solid",
)  # fmt: skip

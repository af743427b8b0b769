"""Small built-in name lists per country (IOC codes) and clubs, for simulated athletes."""

from __future__ import annotations

# IOC code -> (women's first names, men's first names, last names, clubs)
COUNTRIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "NOR": (
        ("Anna", "Ingrid", "Kari", "Sigrid", "Marte", "Silje", "Hanne", "Ida"),
        ("Ola", "Lars", "Kristian", "Gustav", "Magnus", "Eirik", "Henrik", "Jonas"),
        ("Berg", "Hansen", "Johansen", "Olsen", "Larsen", "Haug", "Bakken", "Lie", "Dahl", "Iden"),
        ("Bergen LK", "IL Gular", "Tjalve", "Oslo Triathlon"),
    ),
    "GBR": (
        ("Emma", "Sophie", "Georgia", "Beth", "Vicky", "Lucy", "Jess", "Kate"),
        ("James", "Tom", "Alex", "Jonny", "Sam", "Oliver", "Harry", "Ben"),
        ("Brown", "Smith", "Taylor", "Holland", "Wilson", "Evans", "Walker", "Hughes", "Yee", "Potter"),
        ("Leeds AC", "Serpentine RC", "Bristol & West", "Edinburgh AC"),
    ),
    "USA": (
        ("Katie", "Taylor", "Summer", "Emily", "Sarah", "Megan", "Lauren", "Hannah"),
        ("Morgan", "Matt", "Kevin", "Ryan", "Chris", "Tyler", "Jacob", "Seth"),
        ("Johnson", "Miller", "Davis", "Knibb", "Rappaport", "Pearson", "Kelly", "Moore", "Clark"),
        ("Boston AA", "NYRR", "Bay Area TC", "Colorado Tri"),
    ),
    "GER": (
        ("Laura", "Lena", "Anja", "Lisa", "Nina", "Julia", "Katrin", "Marie"),
        ("Jonas", "Lukas", "Tim", "Felix", "Justus", "Lasse", "Max", "Jan"),
        ("Müller", "Schmidt", "Lindemann", "Schomburg", "Weber", "Wagner", "Becker", "Hoffmann"),
        ("LG Nord", "SC Berlin", "TV Hamburg", "Tri Team Köln"),
    ),
    "FRA": (
        ("Cassandre", "Emma", "Léonie", "Sandra", "Manon", "Chloé", "Camille", "Julie"),
        ("Vincent", "Léo", "Pierre", "Dorian", "Tom", "Hugo", "Louis", "Paul"),
        ("Martin", "Bernard", "Luis", "Coninx", "Beaugrand", "Periault", "Dubois", "Moreau"),
        ("Stade Français", "Poissy Tri", "EC Orléans", "AS Monaco"),
    ),
    "ESP": (
        ("Miriam", "Anna", "Carolina", "Marta", "Lucía", "Sara", "Paula", "Elena"),
        ("Javier", "Mario", "Fernando", "Antonio", "Alberto", "David", "Pablo", "Roberto"),
        ("Gomez", "Mola", "Alarza", "Garcia", "Lopez", "Sanchez", "Navarro", "Ruiz"),
        ("CD Cidade de Lugo", "Tri Santander", "Valencia Runners", "CA Madrid"),
    ),
    "ITA": (
        ("Alice", "Verena", "Giorgia", "Sofia", "Giulia", "Chiara", "Francesca", "Sara"),
        ("Alessandro", "Delian", "Gianluca", "Marco", "Luca", "Matteo", "Andrea", "Davide"),
        ("Rossi", "Betto", "Steinhauser", "Fabian", "Stateff", "Bianchi", "Romano", "Conti"),
        ("Fiamme Oro", "Atletica Roma", "DDS Milano", "CUS Torino"),
    ),
    "NED": (
        ("Maya", "Rachel", "Sifan", "Lotte", "Sanne", "Femke", "Eva", "Anouk"),
        ("Mitch", "Richard", "Jorik", "Daan", "Bram", "Sven", "Thijs", "Niels"),
        ("Kingma", "Klamer", "Murray", "de Vries", "Jansen", "Bakker", "Visser", "Smit"),
        ("AV Haarlem", "Tri Amsterdam", "Phanos", "AV Rotterdam"),
    ),
    "AUS": (
        ("Emma", "Natalie", "Sophie", "Charlotte", "Jaz", "Ashleigh", "Sinead", "Erin"),
        ("Matthew", "Luke", "Jacob", "Aaron", "Brandon", "Kenji", "Jack", "Liam"),
        ("Hauser", "Willian", "Birtwhistle", "Royle", "Jackson", "Gentle", "Kelly", "Nguyen"),
        ("Sydney Striders", "Melbourne TC", "Gold Coast Tri", "Perth RC"),
    ),
    "NZL": (
        ("Andrea", "Nicole", "Ainsley", "Eva", "Olivia", "Grace", "Ruby", "Amelia"),
        ("Hayden", "Tayler", "Dylan", "Sam", "Ryan", "Kyle", "Tom", "Finn"),
        ("Hewitt", "van der Kaay", "Reid", "Wilde", "Thorburn", "McCullough", "Bishop", "Ward"),
        ("Auckland Tri", "Wellington Harriers", "Christchurch AC", "Tauranga Tri"),
    ),
    "JPN": (
        ("Yuko", "Ai", "Niina", "Mai", "Hitomi", "Yuka", "Sakura", "Haruka"),
        ("Kenji", "Makoto", "Yuki", "Takumi", "Ryo", "Daiki", "Hiroshi", "Shota"),
        ("Takahashi", "Ueda", "Kishimoto", "Sato", "Suzuki", "Tanaka", "Watanabe", "Ito"),
        ("Team Tokyo", "Osaka AC", "Kyoto Runners", "Yokohama Tri"),
    ),
    "KEN": (
        ("Faith", "Hellen", "Ruth", "Brigid", "Mary", "Joyce", "Peres", "Vivian"),
        ("Eliud", "Geoffrey", "Amos", "Titus", "Daniel", "Evans", "Benson", "Vincent"),
        ("Kipchoge", "Kamworor", "Kiptum", "Jepchirchir", "Kosgei", "Cheruiyot", "Kipruto", "Chebet"),
        ("Kaptagat AC", "Iten Elite", "Eldoret RC", "Nairobi Harriers"),
    ),
    "ETH": (
        ("Tigist", "Almaz", "Tirunesh", "Gotytom", "Worknesh", "Meseret", "Letesenbet", "Ababel"),
        ("Kenenisa", "Haile", "Sisay", "Lelisa", "Birhanu", "Tamirat", "Yomif", "Selemon"),
        ("Bekele", "Gebrselassie", "Lemma", "Desisa", "Legese", "Tola", "Kejelcha", "Barega"),
        ("Addis Running", "Bekoji AC", "Ethio Tele", "Oromia Police"),
    ),
    "BRA": (
        ("Luisa", "Vittoria", "Beatriz", "Ana", "Mariana", "Camila", "Larissa", "Juliana"),
        ("Manoel", "Diogo", "Kauê", "Lucas", "Rafael", "Gabriel", "Bruno", "Thiago"),
        ("Baptista", "Lopes", "Sclowsky", "Silva", "Santos", "Oliveira", "Souza", "Costa"),
        ("Pinheiros", "Orcampi", "Vasco Tri", "SESI SP"),
    ),
    "CAN": (
        ("Emy", "Amelie", "Joanna", "Dominika", "Sarah", "Chloe", "Madison", "Avery"),
        ("Tyler", "Charles", "Matthew", "Alexis", "Liam", "Noah", "Ethan", "Owen"),
        ("Mislawchuk", "Paradis", "Legault", "Sharpe", "Tremblay", "Roy", "Gagnon", "Wong"),
        ("Toronto Olympic", "Vancouver Thunderbirds", "Montreal Tri", "Calgary Spartans"),
    ),
    "SUI": (
        ("Nicola", "Julie", "Cathia", "Jolanda", "Lea", "Alina", "Annina", "Nora"),
        ("Max", "Sylvain", "Adrien", "Andrea", "Jonas", "Nico", "Luca", "Florin"),
        ("Spirig", "Derron", "Studer", "Salvisberg", "Fridelance", "Briffod", "Meier", "Keller"),
        ("LC Zürich", "TV Bern", "Tri Team Basel", "CA Genève"),
    ),
}

# Weights of countries in a big road race field (home crowd first).
ROAD_WEIGHTS: dict[str, int] = {
    "NOR": 30, "GBR": 12, "GER": 10, "USA": 8, "NED": 6, "FRA": 6, "ESP": 5, "ITA": 5,
    "SUI": 3, "AUS": 3, "CAN": 3, "JPN": 3, "BRA": 2, "NZL": 2, "KEN": 1, "ETH": 1,
}  # fmt: skip

ELITE_RUNNING: tuple[str, ...] = ("KEN", "ETH", "NOR", "JPN", "USA", "GBR", "NED", "GER")
TRIATHLON: tuple[str, ...] = (
    "GBR", "FRA", "NZL", "AUS", "ESP", "GER", "USA", "NOR", "SUI", "NED", "ITA", "CAN", "BRA", "JPN",
)  # fmt: skip

PENALTY_INFRINGEMENTS: tuple[str, ...] = (
    "unbuckled helmet in transition",
    "equipment outside the box",
    "mounting before the mount line",
    "littering outside the zone",
    "dismount line infringement",
)
DSQ_INFRINGEMENTS: tuple[str, ...] = (
    "dangerous riding",
    "unsportsmanlike conduct",
    "failure to serve a penalty",
)
WITHDRAWALS: tuple[str, ...] = (
    "bike crash",
    "a puncture",
    "injury",
    "illness",
    "a mechanical failure",
    "cramps",
)

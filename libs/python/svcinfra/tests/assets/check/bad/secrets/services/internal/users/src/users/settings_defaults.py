"""Hard-coded secrets."""

API_TOKEN = "q8Zr7Lm2Vx9Kp4Tn6Wb3Yc5H"
DSN = "postgresql://users:Sup3rS3cretPass@db:5432/users"
ALPHABET_KEY = "0123456789abcdef"

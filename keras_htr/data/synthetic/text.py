"""What synthetic lines say: word sequences in six languages, names, numbers, dates, amounts.

A model only learns to read what it has been shown. The archives we serve (seed 000: Spanish
historical documents) hold Spanish above all, with accents, `ñ`, `¿ ¡`, capitals, proper names,
abbreviations such as `D.ª` or `nº`, years, dates, amounts and reference numbers. So a line is
drawn from `wordfreq` in English, Spanish, French, German, Italian or Portuguese (Spanish most
often), by frequency with a share of rarer words, and mixed with those tokens at rates close to
running archive prose. Every function is a pure function of the `rng` state.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np

_BASE = " !\"%&'(),-./0123456789:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LOWER_ACCENTED = "áéíóúüñàèìòùâêîôûëïçœäößãõ"
# Symbols archives and forms use: currencies, ordinal indicators, Spanish and French quotes.
_SYMBOLS = "¿¡«»€£$ºª"
#: Every character a generated line can hold (sorted by code point, NFC).
ALPHABET = "".join(
    sorted(set(_BASE + _LOWER_ACCENTED + _LOWER_ACCENTED.replace("ß", "").upper() + _SYMBOLS))
)
#: The characters of digit lines (MNIST digits plus separators drawn as strokes).
DIGIT_ALPHABET = "0123456789 /.,-:"
#: Languages and how often a line is in each; Spanish leads because the archives are Spanish.
LANGUAGES = {"es": 0.4, "en": 0.16, "fr": 0.12, "pt": 0.12, "it": 0.1, "de": 0.1}
MAX_LENGTH = 60

_LETTERS = "a-z" + _LOWER_ACCENTED
# Single-letter words that exist; the others in wordfreq's lists are tokenizer debris.
_ONE_LETTER = {
    "en": {"a", "i"},
    "es": {"a", "y", "o", "e", "u"},
    "fr": {"a", "à", "y"},
    "de": set(),
    "it": {"a", "e", "è", "i", "o"},
    "pt": {"a", "e", "o", "é", "à"},
}
# French and Italian elisions that wordfreq splits off (`l'homme` -> `l`, `homme`).
_ELISIONS = {
    "fr": {"l", "d", "j", "n", "s", "c", "m", "t", "qu", "jusqu", "lorsqu", "puisqu"},
    "it": {"l", "d", "dell", "all", "nell", "dall", "sull", "un", "quest", "c"},
}
_MONTHS = {
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "en": "January February March April May June July August September October November December",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
}
_ABBREVIATIONS = {
    "es": "D. Dª D.ª Dña. Sr. Sra. Sres. nº núm. pág. fol. leg. exp. Excmo. Ilmo. Vd. Ud. S.M. etc. art. cap.",
    "en": "Mr. Mrs. Dr. St. No. p. pp. Co. Ltd. vol. etc. Esq. Rev.",
    "fr": "M. Mme Mlle Dr. St. no. p. art. etc. vol. cf.",
    "de": "Hr. Fr. Dr. Nr. S. z.B. u.a. usw. bzw. Str.",
    "it": "Sig. Sig.ra Dott. n. pag. art. ecc. vol.",
    "pt": "Sr. Sra. D. Dr. nº pág. art. etc. fl. proc.",
}
_FIRST_NAMES = {
    "es": "Juan María José Pedro Francisco Antonio Isabel Ana Diego Alonso Catalina Hernán Gonzalo "
    "Beatriz Rodrigo Luis Inés Martín Fernando Leonor Álvaro Íñigo Sebastián Tomás Lucía Ramón",
    "en": "John Mary William Elizabeth Thomas Margaret George Anne James Henry Sarah Edward",
    "fr": "Jean Marie Pierre Jacques François Louise Étienne Hélène Michel Anne Joséphine",
    "de": "Johann Maria Friedrich Anna Karl Elisabeth Heinrich Wilhelm Margarete Jürgen Käthe",
    "it": "Giovanni Maria Giuseppe Francesco Lucia Antonio Caterina Niccolò Pietro Giulia",
    "pt": "João Maria José António Francisco Ana Manuel Conceição Luís Inês Gonçalo",
}
_SURNAMES = {
    "es": "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Díaz Ponce de León "
    "Núñez Muñoz Álvarez Jiménez Ruiz Hernández Ortiz Castillo Ibáñez Velázquez Cortés Peña Ordóñez",
    "en": "Smith Brown Taylor Johnson Wilson Clarke Hughes Wright Walker Robinson",
    "fr": "Martin Bernard Dubois Lefèvre Moreau Laurent Girard Rousseau Fontaine Chevalier",
    "de": "Müller Schmidt Schneider Fischer Weiß Meyer Wagner Becker Schäfer Köhler Groß",
    "it": "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco",
    "pt": "Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Martins Gonçalves Magalhães",
}
_PLACES = {
    "es": "Sevilla Madrid Toledo Valladolid Burgos Cádiz Córdoba Granada Salamanca Málaga León "
    "Zaragoza Cuba Nueva España Perú Castilla Aragón Galicia Ávila Jaén Cáceres Indias",
    "en": "London York Bristol Boston Dublin Oxford Liverpool Edinburgh",
    "fr": "Paris Lyon Marseille Bordeaux Nantes Rouen Besançon Orléans",
    "de": "Berlin München Köln Hamburg Lübeck Nürnberg Düsseldorf Wien",
    "it": "Roma Milano Napoli Firenze Venezia Genova Torino Bologna",
    "pt": "Lisboa Porto Coimbra Braga Évora Bahia Goa Açores",
}
_CURRENCIES = {
    "es": ("pesos", "reales", "maravedís", "ducados", "ptas.", "€"),
    "en": ("£", "$", "s.", "d.", "pounds", "dollars"),
    "fr": ("francs", "livres", "sous", "€", "F"),
    "de": ("Mark", "Taler", "Gulden", "€", "DM"),
    "it": ("lire", "scudi", "ducati", "€", "L."),
    "pt": ("réis", "escudos", "cruzeiros", "€", "$"),
}
# German nouns are capitalised but wordfreq lowercases everything: these endings mark most nouns.
_GERMAN_NOUN = re.compile(
    r".{3,}(ung|heit|keit|schaft|tion|tät|nis|ment|chen|lein|ismus|ität|ur|ei)$"
)
_GERMAN_LOWER = set(
    [
        "der",
        "die",
        "das",
        "und",
        "in",
        "zu",
        "den",
        "von",
        "mit",
        "es",
        "ein",
        "auf",
        "für",
        "im",
        "sie",
        "eine",
        "sich",
        "auch",
        "dem",
        "des",
        "als",
        "er",
        "ist",
        "nicht",
        "ich",
        "wir",
        "ihr",
        "sein",
        "aber",
        "oder",
        "wenn",
        "noch",
        "nach",
        "bei",
        "aus",
        "wie",
        "nur",
        "so",
        "schon",
        "über",
        "vor",
        "dass",
        "was",
        "man",
        "wird",
        "kann",
        "sind",
        "hat",
        "war",
        "mehr",
        "um",
        "am",
        "durch",
        "bis",
        "dann",
        "diese",
        "dieser",
        "einer",
        "einem",
        "einen",
    ]
)


# ---------------------------------------------------------------------------------------------
# Vocabulary


@functools.cache
def vocabulary(lang: str, size: int = 30000) -> tuple:
    """(words, cumulative frequency) of `lang`'s `size` most frequent clean words.

    Clean: letters of `ALPHABET` and, inside a word, one apostrophe (`don't`, `aujourd'hui`);
    no digits, no tokenizer debris, no stray single letters.
    """
    if lang not in LANGUAGES:
        raise ValueError(
            f"Received an invalid value for argument `lang`, expected one of {sorted(LANGUAGES)}, got {lang!r}"
        )
    import wordfreq

    pattern = re.compile(rf"[{_LETTERS}]+(?:'[{_LETTERS}]+)?")
    words, freqs = [], []
    for w in wordfreq.top_n_list(lang, size):
        w = unicodedata.normalize("NFC", w)
        if not pattern.fullmatch(w) or (
            len(w) == 1 and w not in _ONE_LETTER[lang] | _ELISIONS.get(lang, set())
        ):
            continue
        words.append(w)
        freqs.append(wordfreq.word_frequency(w, lang))
    cdf = np.cumsum(freqs)
    return tuple(words), cdf / cdf[-1]


def _word(rng: np.random.Generator, lang: str) -> str:
    """A word by frequency (70%) or uniformly among the list (30%: rare words, long ones)."""
    words, cdf = vocabulary(lang)
    if rng.random() < 0.7:
        i = int(np.searchsorted(cdf, rng.random(), side="right"))
        return words[min(i, len(words) - 1)]
    return words[int(rng.integers(len(words)))]


def _pick(rng: np.random.Generator, options):
    options = options.split() if isinstance(options, str) else options
    return options[int(rng.integers(len(options)))]


# ---------------------------------------------------------------------------------------------
# Tokens: each returns a list of space-separated pieces, so a token may be several words.


def _plain_word(rng, lang: str) -> list:
    w = _word(rng, lang)
    if w in _ELISIONS.get(lang, ()):
        nxt = _word(rng, lang)
        while nxt in _ELISIONS[lang]:
            nxt = _word(rng, lang)
        return [w + "'" + nxt] if nxt[0] in "aeiouhàâéèêîôûœ" else [nxt]
    if (
        lang == "de"
        and w not in _GERMAN_LOWER
        and (_GERMAN_NOUN.match(w) or (len(w) > 4 and rng.random() < 0.35))
    ):
        w = w[0].upper() + w[1:]
    if lang == "en" and (w == "i" or w.startswith("i'")):
        w = "I" + w[1:]
    return [w]


def _name(rng, lang: str) -> list:
    r = rng.random()
    if r < 0.35:
        return [_pick(rng, _FIRST_NAMES[lang]), _pick(rng, _SURNAMES[lang])]
    if r < 0.55:
        return [_pick(rng, _FIRST_NAMES[lang])]
    if r < 0.75:
        return [_pick(rng, _SURNAMES[lang])]
    return [_pick(rng, _PLACES[lang])]


def _integer(rng) -> int:
    return int(10 ** rng.uniform(0, 6.3))


def _grouped(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


def _number(rng, lang: str) -> list:
    r = rng.random()
    if r < 0.3:
        return [str(int(rng.integers(1, 100)))]
    if r < 0.5:
        return [str(int(rng.integers(1400, 2030)))]
    if r < 0.6:
        n = int(rng.integers(1, 30))
        suffix = {"es": "ºª", "pt": "ºª", "it": "ºª"}.get(lang)
        if suffix:
            return [f"{n}{_pick(rng, list(suffix))}"]
        return [f"{n}{'.' if lang == 'de' else ('e' if lang == 'fr' else 'th')}"]
    if r < 0.7:
        return [f"{int(rng.integers(1, 100))}%"]
    if r < 0.8:
        return [f"{int(rng.integers(0, 24))}:{int(rng.integers(0, 60)):02d}"]
    return [_grouped(_integer(rng), "," if lang == "en" else ".")]


def _digit_groups(rng, lang: str) -> list:
    """Reference numbers, phone numbers, file numbers: digit groups a reader sees as separate."""
    r = rng.random()
    groups = [
        "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(2, 5))))
        for _ in range(int(rng.integers(2, 5)))
    ]
    if r < 0.4:
        return groups
    if r < 0.7:
        label = _pick(
            rng,
            {
                "es": "Tel. tel. Exp. Ref. Leg.",
                "en": "Tel. Ref. No.",
                "fr": "Tél. Réf. no.",
                "de": "Tel. Nr. Az.",
                "it": "Tel. Rif. n.",
                "pt": "Tel. Ref. Proc.",
            }[lang],
        )
        return [label] + groups
    return [f"{groups[0]}/{int(rng.integers(1800, 2030))}"]


def _date(rng, lang: str) -> list:
    d, m, y = int(rng.integers(1, 32)), int(rng.integers(1, 13)), int(rng.integers(1450, 2030))
    month = _MONTHS[lang].split()[m - 1]
    r = rng.random()
    if r < 0.45:
        if lang in ("es", "pt"):
            return (
                [str(d), "de", month, "de", str(y)] if rng.random() < 0.7 else [str(d), "de", month]
            )
        if lang == "en":
            return [month, f"{d},", str(y)] if rng.random() < 0.5 else [str(d), month, str(y)]
        if lang == "de":
            return [f"{d}.", month, str(y)]
        return [str(d), month, str(y)]
    if r < 0.55 and lang in ("es", "pt"):
        return ["año" if lang == "es" else "ano", "de", str(y)]
    fmt = int(rng.integers(4))
    return [[f"{d:02d}/{m:02d}/{y}", f"{d}.{m}.{y}", f"{d}-{m}-{y % 100:02d}", f"{d}/{m}/{y}"][fmt]]


def _amount(rng, lang: str) -> list:
    units, cents = _integer(rng), int(rng.integers(100))
    cur = _pick(rng, _CURRENCIES[lang])
    sep_thousands, sep_dec = (",", ".") if lang == "en" else (".", ",")
    value = _grouped(units, sep_thousands)
    if rng.random() < 0.5:
        value += f"{sep_dec}{cents:02d}"
    if cur in ("£", "$") and lang == "en":
        return [cur + value]
    return [value, cur]


_SPECIALS = (
    (_name, 0.05),
    (_number, 0.035),
    (_date, 0.012),
    (_amount, 0.012),
    (_digit_groups, 0.012),
)


def _abbreviation(rng, lang: str) -> list:
    return [_pick(rng, _ABBREVIATIONS[lang])]


# ---------------------------------------------------------------------------------------------
# Lines


def _target_length(rng) -> int:
    """Archive lines: mostly full (30-60 characters), some paragraph ends, a few short notes."""
    r = rng.random()
    if r < 0.65:
        return int(np.clip(rng.normal(46, 9), 24, MAX_LENGTH))
    if r < 0.9:
        return int(rng.integers(8, 46))
    return int(rng.integers(1, 14))


def _words(rng, lang: str, target: int) -> list:
    """Pieces (words and tokens) up to about `target` characters, with punctuation and capitals."""
    pieces: list = []
    length = 0
    capital_next = rng.random() < 0.75
    while length < target:
        r = rng.random()
        token = None
        acc = 0.0
        for fn, p in _SPECIALS:
            acc += p
            if r < acc:
                token = fn(rng, lang)
                break
        if token is None:
            token = _abbreviation(rng, lang) if r < acc + 0.015 else _plain_word(rng, lang)
            if capital_next:
                token[0] = token[0][:1].upper() + token[0][1:]
            elif rng.random() < 0.025:
                token[0] = token[0].upper()
            elif rng.random() < 0.03:
                token[0] = token[0][:1].upper() + token[0][1:]
        capital_next = False
        r = rng.random()
        if r < 0.07:
            token[-1] += ","
        elif r < 0.1:
            token[-1] += "" if token[-1].endswith(".") else "."  # `etc.` ends a sentence as is
            capital_next = True
        elif r < 0.115:
            token[-1] += _pick(rng, [";", ":"])
        elif r < 0.12:
            token = token + ["-"]
        r = rng.random()
        if r < 0.024:
            left, right = (
                ("(", ")") if r < 0.012 else _pick(rng, [('"', '"'), ("'", "'"), ("«", "»")])
            )
            token[0] = left + token[0]
            token[-1] = token[-1] + right
        added = sum(len(t) for t in token) + len(token)
        if pieces and length + added > MAX_LENGTH + 1:
            break
        pieces.extend(token)
        length += added
    return pieces


def _finish(rng, pieces: list, lang: str) -> list:
    """Line-final punctuation, questions with Spanish `¿ ¡`, end-of-line hyphenation."""
    last = pieces[-1]
    if last[-1:].isalnum():
        r = rng.random()
        if r < 0.25:
            pieces[-1] += "."
        elif r < 0.3:
            pieces[-1] += ","
        elif r < 0.36:
            mark = _pick(rng, ["?", "?", "!"])
            pieces[-1] += mark
            if lang == "es":
                start = int(rng.integers(len(pieces)))
                if pieces[start][:1].isalpha():
                    pieces[start] = ("¿" if mark == "?" else "¡") + pieces[start]
        elif r < 0.4 and len(last) > 5 and last.isalpha():
            # A word broken across lines, as in running manuscript text.
            pieces[-1] = last[: int(rng.integers(2, len(last) - 2))] + "-"
    return pieces


_ACCENT_MARKS = re.compile(r"[\u0300-\u036f]")
_FOLD = {
    "œ": "oe",
    "Œ": "OE",
    "ß": "ss",
    "«": '"',
    "»": '"',
    "¿": "",
    "¡": "",
    "€": "",
    "£": "",
    "º": "o",
    "ª": "a",
}


def _fold(piece: str) -> str:
    folded = "".join(_FOLD.get(c, c) for c in piece)
    return unicodedata.normalize("NFC", _ACCENT_MARKS.sub("", unicodedata.normalize("NFD", folded)))


def _fit(piece: str, covered: frozenset) -> str:
    """`piece` written with `covered` characters only: in lowercase if the design has no
    capitals, with accents folded if it has no accents (`Está` -> `está` or `Esta`), else ''."""
    if set(piece) <= covered:
        return piece
    for candidate in (piece.lower(), _fold(piece), _fold(piece.lower())):
        if candidate and set(candidate) <= covered and any(c.isalnum() for c in candidate):
            return candidate
    return ""


def random_line(rng: np.random.Generator, covered: frozenset | None = None) -> str:
    """A text line of 1-60 characters in one of `LANGUAGES`, like a line of an archive page.

    Args:
        rng: the generator; the line is a pure function of its state.
        covered: if given, the characters the writer can draw; pieces needing others have their
            accents folded (`é` -> `e`) or are dropped, so no other character is ever returned.

    Returns:
        The line, single-spaced, with no leading or trailing space.
    """
    if covered is not None:
        covered = frozenset(covered)
        if not any(c.isalnum() for c in covered):
            raise ValueError(
                f"Received an invalid value for argument `covered`, expected a set holding letters or "
                f"digits, got {''.join(sorted(covered))!r}"
            )
    langs = list(LANGUAGES)
    probs = np.cumsum(list(LANGUAGES.values()))
    for _ in range(20):
        lang = langs[
            min(int(np.searchsorted(probs / probs[-1], rng.random(), side="right")), len(langs) - 1)
        ]
        target = _target_length(rng)
        pieces = _finish(rng, _words(rng, lang, target), lang)
        if rng.random() < 0.03:  # a heading in capitals
            pieces = [p.upper() for p in pieces]
        if covered is not None:
            pieces = [_fit(p, covered) for p in pieces]
        line = " ".join(p for p in pieces if p)
        while (
            len(line) > MAX_LENGTH
        ):  # one long token can overshoot: drop whole pieces from the end
            line = line.rsplit(" ", 1)[0] if " " in line else line[:MAX_LENGTH]
        if line.strip():
            return line.strip()
    # A writer covering almost nothing: a word of the characters it has.
    chars = sorted(c for c in covered if c.isalnum())
    return "".join(chars[int(i)] for i in rng.integers(len(chars), size=int(rng.integers(1, 9))))


def random_digit_text(rng: np.random.Generator) -> str:
    """A handwritten-form number: a date, an amount, a grouped number, a time or an integer."""
    r = rng.random()
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1900, 2030))
    if r < 0.25:
        fmt = int(rng.integers(4))
        return [
            f"{d:02d}/{m:02d}/{y}",
            f"{d}.{m}.{y % 100:02d}",
            f"{y}-{m:02d}-{d:02d}",
            f"{d}/{m}/{y}",
        ][fmt]
    if r < 0.5:
        units = int(10 ** rng.uniform(0, 6))
        cents = int(rng.integers(100))
        style = int(rng.integers(3))
        if style == 0:
            return f"{units:,}.{cents:02d}"
        if style == 1:
            return f"{units:,}".replace(",", " ") + f",{cents:02d}"
        return f"{units}.{cents:02d}"
    if r < 0.7:
        groups = [int(rng.integers(2, 5)) for _ in range(int(rng.integers(2, 5)))]
        return " ".join("".join(str(int(x)) for x in rng.integers(0, 10, g)) for g in groups)
    if r < 0.8:
        return f"{int(rng.integers(0, 24))}:{int(rng.integers(0, 60)):02d}"
    if r < 0.9:
        return f"-{int(rng.integers(1, 10000))}"
    return "".join(str(int(x)) for x in rng.integers(0, 10, int(rng.integers(1, 10))))

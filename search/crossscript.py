"""Cross-script match keys shared by English queries and Arabic text: names by sound, numbers, dates."""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from search.text import has_arabic, normalize_arabic, tokenize_for_match

__all__ = [
    "ARABIC_COMMON_WORDS",
    "ARABIC_FUNCTION_WORDS",
    "COMMON_WORDS",
    "CROSSSCRIPT_VERSION",
    "ENGLISH_COMMON_WORDS",
    "NAME_PREFIX",
    "QueryKey",
    "arabic_name_candidates",
    "arabic_name_key",
    "arabic_name_keys",
    "candidate_names",
    "common_words",
    "date_keys",
    "document_keys",
    "expand_query_key",
    "key_idf",
    "keys_match",
    "latin_name_key",
    "lookup_terms",
    "number_keys",
    "query_keys",
    "term_matches",
    "weighted_query_keys",
]

CROSSSCRIPT_VERSION = 1
"""Version of the keys an index stores (the manifest's ``chunker.crossscript``; 0: no key table)."""
COMMON_WORDS = 2000
"""How many words `common_words` returns by default (and `ARABIC_COMMON_WORDS` holds)."""
NAME_PREFIX = "p:"
"""Prefix of name keys. Number keys start with "n", years with "y", months with "m", days with "d"."""
WEAK_NAME = 0.5
"""`weighted_query_keys`: the weight of a name key that comes only from lowercase words or acronyms."""
MIN_NAME_KEY = 2
"""Shortest skeleton that `document_keys` and `query_keys` emit."""
MIN_PREFIX_MATCH = 3
"""`keys_match`: the shorter key must have at least this many letters to match as a prefix or by an edit."""
MIN_EDIT_MATCH = 4
"""`keys_match`: keys one edit apart match when the longer has at least this many letters."""


def _words(text: str) -> list[str]:
    """The whitespace-separated words of a word-list literal."""
    return text.split()


# ---------------------------------------------------------------------------------------------------------
# Names: the consonant skeleton
#
# Both scripts reduce to one letter per consonant class, vowels dropped, doubled letters merged:
#   b: b p ب پ      t: t th ت ط ث     d: d dh ذ د ض ظ     s: s z soft-c ص س ز     c: sh ch tch ش تش چ
#   x: kh خ         h: h ح ه          g: g j gh dj ج غ گ   k: k q hard-c ck ك ق   f: f v ph ف ڤ
#   l m n r: themselves               w, y: only word-initial (و ي); elsewhere they are vowels.
# s and z share a class because the press writes "James" جيمس or جيمز and "Harrods" هارودز; g and j
# because Egyptian and Gulf papers write hard g with ج (جوجل) and Levantine ones with غ (غوغل). ع and
# hamza are silent; a word-final ه (ة after folding) or ح drops, like a final "h" after an English vowel.

_AR_CLASSES = {"b": "بپ", "t": "تطث", "d": "دذضظ", "s": "سصز", "c": "شچ", "x": "خ", "h": "حه", "g": "جغگ"}
_AR_CLASSES |= {"k": "قك", "f": "فڤ", "l": "ل", "m": "م", "n": "ن", "r": "ر"}
_AR_LETTER_CLASSES = {letter: cls for cls, letters in _AR_CLASSES.items() for letter in letters}
_AR_SILENT = frozenset("اعءؤئ")
_AR_LETTERS_RE = re.compile(r"[\u0621-\u064a\u0671-\u06d3]+")
_AR_WORD_RE = re.compile(r"[\u0621-\u064a\u0671-\u06d3][\u0621-\u065f\u0670-\u06d3]*")

# Article-bearing proclitics, stripped by default when 3 letters remain (البرازيل, بالسلط, للبيرو).
_ARTICLE_PROCLITICS = ("وبال", "ولل", "وال", "بال", "لل", "ال")
# Left to the other readings: California كاليفورنيا and Valencia فالنسيا start with these.
_RARE_ARTICLE_PROCLITICS = ("وكال", "وفال", "فال", "كال")
# Names start with these letters too (بوتين, لندن, فرنسا, كندا): only و is stripped by default, and only
# before a consonant (وبوتين -> بوتين, but واشنطن and ويلز stay whole).
_SINGLE_PROCLITICS = "وبلفك"
_MIN_STEM = 3

_GAP = "|"  # a vowel: letters repeated across it stay (مانينغ "mnng"), adjacent repeats merge (nn -> n)

_LATIN_CLASSES = {"b": "bp", "d": "d", "f": "fv", "g": "gj", "h": "h", "k": "kq", "s": "sz", "t": "t"}
_LATIN_CLASSES |= {"l": "l", "m": "m", "n": "n", "r": "r"}
_LATIN_SIMPLE = {letter: cls for cls, letters in _LATIN_CLASSES.items() for letter in letters}
_LATIN_VOWELS = frozenset("aeiouy")
_LATIN_DIGRAPHS = {
    "sh": "c",
    "kh": "x",
    "ph": "f",
    "th": "t",
    "dh": "d",
    "ck": "k",
    "qu": "k",
    "dj": "g",
    "rh": "r",
}
_LATIN_SILENT_STARTS = {"kn": "n", "wr": "r", "ps": "s", "gn": "n", "pn": "n", "wh": "w", "x": "s"}
# "ch" is /k/ in these (Michael, Nicholas, Christopher, chemistry); elsewhere /tsh/, written تش or ش.
_HARD_CH = ("chael", "chol", "chr", "chl", "chem", "chor", "chao")
# The Arabic article as a hyphenated prefix: al-Sisi, el-Baradei, ash-Shabab.
_LATIN_ARTICLE_RE = re.compile(r"^(?:[ae]l|ad|an|ar|as|ash|at|az)[-‐‑](?=[^\W\d_]{3})", re.IGNORECASE)
_LATIN_EXTRA_FOLD = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ı": "i", "ß": "ss", "æ": "ae"})


def _collapse(classes: Iterable[str]) -> str:
    """Join consonant classes, merging adjacent repeats but not repeats across a vowel (_GAP)."""
    out: list[str] = []
    previous = ""
    for cls in classes:
        if cls == _GAP:
            previous = ""
        elif cls and cls != previous:
            out.append(cls)
            previous = cls
    return "".join(out)


def _fold_latin(word: str) -> str:
    """Lowercase a-z only: accents stripped, ł/ø/ß/... mapped, a possessive "'s" and the rest dropped."""
    word = re.sub(r"['’]s$", "", _LATIN_ARTICLE_RE.sub("", word.strip()).lower())
    word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return re.sub(r"[^a-z]", "", word.translate(_LATIN_EXTRA_FOLD))


def _latin_class(w: str, i: int) -> tuple[str, int]:
    """The class at w[i] (_GAP for a vowel, "" for a silent letter) and how many letters it takes."""
    c = w[i]
    prev = w[i - 1] if i else ""
    nxt = w[i + 1] if i + 1 < len(w) else ""
    after = w[i + 2] if i + 2 < len(w) else ""
    if w.startswith(("sch", "tch"), i):
        return "c", 3
    if c == "c" and nxt == "h":
        hard = w.startswith(_HARD_CH, i) or (i == 0 and after != "" and after not in _LATIN_VOWELS)
        return ("k" if hard else "c"), 2
    if c == "g" and nxt == "h":
        # /g/ at the start or before a vowel (Ghana, Baghdad); silent after a vowel (Hugh, Knight).
        return ("" if prev in _LATIN_VOWELS and prev and after in ("", "t") else "g"), 2
    if c + nxt in _LATIN_DIGRAPHS:
        return _LATIN_DIGRAPHS[c + nxt], 2
    if c == "c":
        return ("s" if nxt and nxt in "eiy" else "k"), 1
    if c == "x":
        return "ks", 1
    if c == "w":
        return ("w" if i == 0 else _GAP), 1
    if c == "y":
        return ("y" if i == 0 and nxt and nxt in _LATIN_VOWELS else _GAP), 1
    if c == "h":
        # Silent at the end after a vowel (Sarah, Abdullah; ة, ه, ح drop on the Arabic side) and in "ohn".
        silent = prev != "" and prev in _LATIN_VOWELS and (not nxt or (prev == "o" and nxt == "n"))
        return ("" if silent else "h"), 1
    if c in _LATIN_VOWELS:
        return _GAP, 1
    return _LATIN_SIMPLE.get(c, ""), 1


def latin_name_key(word: str) -> str:
    """Reduce a Latin-script name to its consonant skeleton (the classes shared with `arabic_name_key`).

    Examples: "Bucharest" -> "bcrst", "Zelensky" -> "slnsk", "Manning" -> "mnng", "Khashoggi" -> "xcg".

    Args:
        word: One word in any case; accents, a possessive "'s" and a hyphenated "al-" are ignored.

    Returns:
        The skeleton, possibly empty (a word of vowels only).
    """
    w = _fold_latin(word)
    for start, repl in _LATIN_SILENT_STARTS.items():
        if w.startswith(start) and len(w) > len(start) + 1:
            w = repl + w[len(start) :]
            break
    classes: list[str] = []
    i = 0
    while i < len(w):
        cls, width = _latin_class(w, i)
        classes.append(cls)
        i += width
    return _collapse(classes)


def _fold_arabic_word(word: str) -> str:
    """normalize_arabic, then Arabic letters only."""
    return "".join(_AR_LETTERS_RE.findall(normalize_arabic(word)))


def _strip_article(word: str, proclitics: tuple[str, ...] = _ARTICLE_PROCLITICS) -> str:
    """Remove the first matching proclitic when at least 3 letters remain."""
    for proclitic in proclitics:
        if word.startswith(proclitic) and len(word) - len(proclitic) >= _MIN_STEM:
            return word[len(proclitic) :]
    return word


def _hamza_alef_initial(word: str) -> bool:
    """Whether the raw word starts with أ, إ or آ: then a following ل is no article (ألستون Allston)."""
    letters = _AR_LETTERS_RE.search(unicodedata.normalize("NFKC", word))
    return letters is not None and letters.group()[0] in "أإآ"


def _primary_stem(folded: str, hamza_initial: bool) -> str:
    """The most likely name stem: article proclitics off, and و off before a consonant."""
    if hamza_initial:
        return folded
    stem = _strip_article(folded)
    if stem == folded and folded[0] == "و" and len(folded) > _MIN_STEM and folded[1] not in "اوي":
        stem = _strip_article(folded[1:])
    return stem


def _arabic_skeleton(word: str) -> str:
    """Skeleton of a folded, proclitic-free Arabic word."""
    classes: list[str] = []
    last = len(word) - 1
    i = 0
    while i <= last:
        ch = word[i]
        if ch == "ت" and i < last and word[i + 1] == "ش":
            classes.append("c")  # تش writes English ch (تشارلز Charles, تشيلسي Chelsea)
            i += 2
            continue
        if ch in _AR_SILENT:
            classes.append(_GAP)
        elif ch in "وي":
            classes.append(("w" if ch == "و" else "y") if i == 0 else _GAP)
        elif not (ch in "هح" and i == last and i > 0):  # final ة/ه, ح: غزة Gaza, صلاح Salah
            classes.append(_AR_LETTER_CLASSES.get(ch, ""))
        i += 1
    return _collapse(classes)


def arabic_name_key(word: str) -> str:
    """Reduce an Arabic word to the consonant skeleton shared with `latin_name_key`.

    The word is folded with `normalize_arabic`, so raw and normalised text give the same key (except that
    a raw initial أ/إ/آ shows that a following ل is not the article). The article and its proclitics are
    removed (البرازيل, والبرازيل, بالبرازيل, للبرازيل -> برازيل), so is a leading و before a consonant
    (وبوتين -> بوتين); ا و ي are vowels except و/ي at the start; ع and hamza are silent; a final ه (ة) or
    ح drops. Examples: بوخارست -> "bxrst", زيلينسكي -> "slnsk", مانينغ -> "mnng".

    Args:
        word: One Arabic word, raw or normalised.

    Returns:
        The skeleton, possibly empty.
    """
    folded = _fold_arabic_word(word)
    return _arabic_skeleton(_primary_stem(folded, _hamza_alef_initial(word))) if folded else ""


def arabic_name_keys(word: str) -> list[str]:
    """Skeletons of every plausible proclitic split of an Arabic word, `arabic_name_key`'s first.

    The other readings: the whole word (اليكس is Alex, not ال + يكس), كال/فال removed (كالعادة, but
    كاليفورنيا), a single-letter proclitic و, ب, ل, ف or ك removed (بموسكو, لأوبرا). A wrong split costs
    little: skeletons are only ever compared with names.

    Args:
        word: One Arabic word, raw or normalised.

    Returns:
        Distinct non-empty skeletons; empty when the word has no Arabic letter.
    """
    folded = _fold_arabic_word(word)
    if not folded:
        return []
    readings = [_primary_stem(folded, _hamza_alef_initial(word)), folded, _strip_article(folded)]
    readings.append(_strip_article(folded, _RARE_ARTICLE_PROCLITICS))
    if folded[0] in _SINGLE_PROCLITICS and len(folded) > _MIN_STEM:
        readings += [folded[1:], _strip_article(folded[1:])]
    keys = (_arabic_skeleton(reading) for reading in readings)
    return list(dict.fromkeys(key for key in keys if key))


def _bare(key: str) -> str:
    return key.removeprefix(NAME_PREFIX)


def _within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance at most 1."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + 1 :] == b[i + 1 :] if len(a) == len(b) else a[i:] == b[i + 1 :]


def keys_match(a: str, b: str) -> bool:
    """Whether two name skeletons (bare or "p:"-prefixed) can be the same name.

    True when they are equal; when the shorter has at least 3 letters and is a prefix of the longer
    (Edinburgh "dnbrg" / أدنبره "dnbr"); or when the shorter has at least 3 letters, the longer at least
    4 and they are one insertion, deletion or substitution apart (Khashoggi "xcg" / خاشقجي "xckg").
    """
    a, b = _bare(a), _bare(b)
    if not a or not b or a == b:
        return bool(a) and a == b
    short, long_ = sorted((a, b), key=len)
    if len(short) < MIN_PREFIX_MATCH:
        return False
    return long_.startswith(short) or (len(long_) >= MIN_EDIT_MATCH and _within_one_edit(a, b))


def expand_query_key(key: str) -> list[str]:
    """The index terms to look up for one query key, so that the index finds what `keys_match` accepts.

    A name key gives itself, itself as a prefix ("p:bxrst*": longer document keys), its prefixes of at
    least 3 letters (document keys that are a prefix of it) and, from 4 letters, its one-letter deletions.
    Substitutions and insertions need the index's vocabulary: look up the first 3 letters as a prefix
    and keep the terms that `keys_match` accepts. Number and date keys give themselves.

    Args:
        key: A key from `query_keys`.

    Returns:
        Distinct terms; a trailing "*" marks a prefix look-up (in FTS5: the quoted term followed by *).
    """
    if not key.startswith(NAME_PREFIX):
        return [key]
    bare = _bare(key)
    terms = [key]
    if len(bare) >= MIN_PREFIX_MATCH:
        terms.append(key + "*")
        terms += [NAME_PREFIX + bare[:i] for i in range(len(bare) - 1, MIN_PREFIX_MATCH - 1, -1)]
    if len(bare) >= MIN_EDIT_MATCH:
        terms += [NAME_PREFIX + bare[:i] + bare[i + 1 :] for i in range(len(bare))]
    return list(dict.fromkeys(terms))


def lookup_terms(key: str) -> tuple[list[str], str | None]:
    """How to find, in an index's vocabulary, every stored key that can match one query key.

    A name key of 3+ letters gives the prefix of its first 3 letters (every stored key that starts with
    it: equal keys, longer keys, shorter keys of 3+ letters, and one edit after the third letter) and,
    as exact terms, its deletions within the first 3 letters (`expand_query_key`). The caller keeps the
    terms `keys_match` accepts. A substitution or insertion within the first 3 letters is not found.
    Other keys (short names, numbers, dates) give themselves.

    Args:
        key: A key from `query_keys`.

    Returns:
        (exact terms, prefix or None).
    """
    bare = _bare(key)
    if not key.startswith(NAME_PREFIX) or len(bare) < MIN_PREFIX_MATCH:
        return [key], None
    prefix = NAME_PREFIX + bare[:MIN_PREFIX_MATCH]
    exact = [t for t in expand_query_key(key) if not t.endswith("*") and not t.startswith(prefix)]
    return exact, prefix


def term_matches(key: str, term: str) -> bool:
    """Whether a stored key found by `lookup_terms` matches a query key (`keys_match` for names)."""
    if key.startswith(NAME_PREFIX):
        return term.startswith(NAME_PREFIX) and keys_match(key, term)
    return term == key


# ---------------------------------------------------------------------------------------------------------
# Which words can be names

ENGLISH_COMMON_WORDS: frozenset[str] = frozenset(
    _words(
        """
a about above according across act action actually add added after again against age agency ago agree
agreement aid air airport al all alliance allow allowed almost alone along already also although always am
ambassador america american among amount an analyst and announce announced annual another answer any
anyone anything april arab arabia are area areas arm armed army around arrested arrive arrived art article
as ask asked at attack attacked attacks attempt attorney august authorities authority available away back
bad bank based be became because become been before began begin behind being believe below best better
between big bill billion black board body bomb bombing book border born both boy bring brought budget build
building built business but buy by cabinet call called came campaign can capital car care case cases cause
ceasefire celebrate center central century ceremony certain chairman championship change charge charged
chief child children choose church cities citizens city civil claim claimed class clear close closed club
coach coalition come coming commander commission committee common companies company complete conference
confirm confirmed conflict congress consider constitution construction continue control convicted corruption
cost could council countries country coup course court crime crisis crown cup current cut data date daughter
day days dead deal death december decided decision defence defense demonstrators department deputy despite
did die died different diplomat diplomatic director displaced do does doing dollar dollars done door down
due during each earlier early earn earned east economic economy education effect eight eighteen eighty
election elections eleven else embassy emergency end energy enough entire even evening event ever every
everyone evidence exactly example executive expected exports face fact fall family far father february fell
festival few fifteen fifth fifty fight figure file final finally financial find fire first five flight
flights fly follow following food for force forces foreign form former forty found four fourteen fourth
free friday friend from front full fund future game gas gave general get girl give given go goal going gold
good got government governor great green ground group groups grow growth guard had hajj half hand happen
happened has have he head health hear heard held help her here high him himself his historic history hit
hold home hospital hot hour hours house how however human hundred i if important imports in include included
including increase industry inflation information injured inside instead interest international interview
into invest investment investors is islamic issue it its itself january job join joined july june just keep
kill killed killing kind king kingdom knew know known land large last late later launch launched law lead
leader leaders league least leave led left less let level life light like likely line list little live
local long look lost lot low made main major make man many march market may mayor me mean media meet
meeting member members men migrants might militants military million minister ministry minute minutes
missile month months more morning most mother move much municipal muslim must my name named nation
national near need network never new news next night nine nineteen ninety no none north not note nothing
november now nuclear number of off offer office officer official officials often oil old on once one only
open operation opposition or order other others our out over own paid part parliament party passengers past
pay peace people per percent period person pilgrim pilgrims place plan planned plans play player players
point police policy political poor population possible power prayer premier president press price prices
prime prince prison private problem process program project protest protests province public put quarter
question rate reach read ready real really reason receive received record refugees regime region release
released remain report reported reports republic research residents result return revealed revenue right
rights rise road role rule run safety said sales same sanctions saturday say says school season second
secretary security see seen sell senate send sent september service set seven seventeen seventy several
she should show side since single six sixteen sixty small so social soldiers some someone something son
south space speak special spend spent spokesman sport start started state statement states still stock
stop story street strike strikes strong student students study such summit sunday support sure suspect
suspects system take taken talk talks tax team tell ten terrorism terrorist terrorists than that the their
them then there these they thing things think third thirteen thirty this those though thousand three
through thursday time times to today together told too took top total tourism tourists tournament toward
towards town trade training travel treaty trial trillion troops true try tuesday turn twelve twenty two
under unemployment union united until up upon us use used vaccine vehicles very victims victory violence
visa visit volunteers vote want war was water way we wednesday week weeks well went were west what when
where whether which while white who whole whom whose why will win with within without woman women won
word work worked workers working world would wounded write year years yes yesterday yet you young your
ability able abroad absence accept access account achieve acquire across activist activists actor actress
address admit adopt adult advance advantage adviser affair affairs afford afraid agenda ahead aim aircraft
alarm alert alerted alive allegation allegations allege alleged ally almost altitude amid ancient angry
animal announcement anniversary annually anti appeal appear apply appoint appointed approach approval
approve approved approximately arena argue argument arise arrest arrival artist aside assault assembly
asset assets assist assistance assistant athlete athletes attend attention attract audience author average
avoid award awarded aware baby background ball ban banned banks bar barrel barrels base basic basis battle
bay beach bear beat beaten beautiful bed begun belief believed belong beneath benefit beside beyond bid
billions bird birth birthday blame blast block blood blow blue boat bodies bond bonds border borders
bottom bought box brain branch brand bread break breaking breath bridge brief bright brother brothers
burn burned burning bus buyer cable camera camp campus cancer candidate candidates captain capture card
career cargo carry cash catch caught celebrated celebration cell cent cents chain chair challenge chamber
champion champions chance channel chapter character charity cheap check chemical chemicals chief choice
cinema circle citizen claims clash clashes clean climate clinic clock closer clothes cloud coal coast
coastal code coffee cold collapse colleague collect collection college colour column combat comment
comments commercial commit communication communities community compare compared competition complain
complaint concern concerned concert condition conditions confidence conflict connection consumer
contact contain content contest contract contribute conversation cook cool cooperation copy copying core
corner correct count counter couple courage cover coverage crash create created credit crew criminal
critic critical criticism crop cross crowd crude cultural culture currency customer customers cycle
damage dance danger dangerous dark deadline dealer dear debate debt decade decades declare decline deep
defeat defeated defend deficit define degree delay deliver delivery demand democracy democratic deny
deposit describe design desk destroy destroyed detail details detained develop development device die
diet difference difficult digital dinner direct direction disaster discover discuss discussion disease
dismiss dismissed display dispute distance district divide doctor doctors document documents dog domestic
double doubt draft drama draw dream dress drink drive driver drivers drop drought drug drugs dry earth
easily eastern eat edge edition editor effort efforts egg either elect electric electricity element
eliminate email employee employees employment enemy engine engineer enjoy enter entry environment equal
equipment escape estate estimate estimated ethnic exchange executed exercise exhibition exist exit expand
expect expense experience expert experts explain explosion export express extend extra extreme eye eyes
facility factor factory fail failed failure fair faith fake famous fan fans farm farmer farmers fast fear
feature fee feed feel feeling fees female field file filed film filmed finance fined firm fish fit fix
flag flat floor flood floods flow flower focus fold folk foot football fourth frame freedom fresh fuel
function funding funds gain gallery gap garden gate gather generation gift glass global goods grade grand
grant grave gross guest guests guide guilty gun guns hair hall hard harm hat hate headquarters hearing
heart heat heavy height helicopter hero hidden hide highway hill hire hole holiday holy honor honour hope
horse host hostage hosted hosts household housing huge hunger hunt hurt husband ice idea ignore ill
illegal image impact improve incident income independence independent index indicate individual
infection inquiry insurance intelligence intend internet investigate investigation investigators invite
island jail joint journalist journalists journey judge judges jump jury justice key kid kids kilometre
kilometres kitchen lab labour labor lack lake language largest lawyer lawyers layer leadership leading
leak learn lecture legal length lesson letter library licence license lie lift lifted limit link lists
literature loan loans location lock lose losing loss losses loud love lower luck machine magazine mail
maintain majority male mall manage management manager mark marked marriage marry mass match matches
material matter meal measure measures medal medical medicine mental mention message metal method
middle migrant mile miles mind mine mining minority mission mistake mix mobile model modern moment money
monitor moon mosque motor mountain mouth movement movie murder museum music musician narrow nation native
natural nature navy nearly neck negotiation negotiations neighbour neighbours nobody noise normal northern
novel nurse nurses object observer obtain occur ocean offence offer officers online operate opinion
opportunity option orange ordinary organisation organization organisers origin outbreak output outside
owner owners pace pack package page pain paint pair palace panel paper parent parents park parking
partner partners pass passed passenger path patient patients pattern payment peak penalty pension
perform performance permit personal phase phone photo photograph photos pick picture piece pilot pitch
plane planet plant plastic plate platform plea pleasure plot pocket poem poet poll pool pop popular port
position positive post pot pound pounds poverty powerful practice praise pray prepare presence presidency
presidential pressure pretty prevent previous pride priest primary principle print prior prisoner
prisoners prize producer product production profit profits progress promise promote proof property
proposal propose prosecutor protect protection prove provide provided pull punish purpose push quality
quarter queen quick quiet quit race racing radio rail rain raise raised range rank ranked rape rare raw
reaction rebel rebels recent recently recognise recognize recover recovery red reduce referee reform
refuse regional regular reject relationship relations relative relief religion religious rent repair
replace reply represent request require rescue reserve reserves resident resign resigned resolution
resource resources respond response rest restaurant results retire retired revenue review reward rich
ride ring risk river rock rocket roof room root round route royal rules ruling rural sad safe sail salary
sale salt sample satellite save saved scale scene schedule science scientist scientists score scored
screen sea search seat secret section sector seek seize seized select senior sense sentence sentenced
series serious servant serve session settle settlement shape share shared shares sharp sheet shell shift
ship shirt shock shoe shoot shooting shop shops shore short shot shoulder sick sign signal signed signing
silver singer sister site size skill skin sky sleep slow smart smoke snow soft software soil solar solid
solution song soon sort soul sound source sources southern speaker speech speed spirit split spot spread
spring square squad staff stage stake stand standard star stars station statue status stay steel step
stocks stone store storm strategy stream strength stress strike stupid style subject success suffer
sugar suggest suit suicide suing summer sun supply surface surgery surprise survey survive survivor
survivors suspend swim symbol table tackle tale talent tank tape target task taste taxes tea teacher
teachers technology teeth television temperature temple tend tension term terms territory test tests
text theatre theory threat threaten three throw ticket tickets tie tiny title tonight tool tour tower
track traffic train transfer transport trap treatment tree trend trip troop trouble truck trust truth
tunnel twice type typical uncle understand unit unique university unknown upper urban urge user users
usual valley value variety vehicle version vessel veteran victim video view village virus voice volume
voter voters wage wages wait walk wall warn warned warning waste watch wave wealth weapon weapons wear
weather website wedding weight western wheel wide wife wild wind window wine winner winter wire wish
witness worker worry worse worth wound yard yellow youth zone newspaper newspapers
"""
    )
)
"""Common English words, general and news vocabulary: names only when capitalised mid-sentence."""

_QUESTION_WORDS = frozenset(
    _words(
        "what which who whom whose when where why how did does do is are was were can could will would "
        "should has have had many much"
    )
)
# Capitalised mid-sentence but never names: function words and titles.
_NEVER_NAMES = frozenset(
    _words(
        "a an and the of in on at to for from by with as or but not no is are was were be i mr mrs ms dr "
        "sir madam president king queen prince princess minister pope general mayor governor senator "
        "chairman ceo professor"
    )
)

ARABIC_FUNCTION_WORDS: frozenset[str] = frozenset(
    normalize_arabic(
        """
من في على علي الى الي إلى عن مع هذا هذه ذلك تلك هؤلاء أولئك الذي التي الذين اللذين اللتين اللواتي اللاتي
هو هي هم هن هما أنا نحن أنت أنتم كان كانت كانوا يكون تكون يكونون ليس ليست أن إن أنه إنه أنها إنها أنهم
أو أم ثم قد لقد لم لن لا ما ماذا متى أين كيف هل لماذا كم بعد قبل بين عند عندما حتى منذ مذ خلال حول ضد
دون غير سوى كل بعض أي أيضا قال قالت وقال وقالت يقول تقول أكد وأكد أضاف وأضاف أشار وأشار وفق وفقا حيث إذا
إذ لكن ولكن بل إلا عبر لدى لديه له لها لهم لهن منها منه منهم عليه عليها عليهم فيه فيها فيهم به بها بهم
إليه إليها إليهم عنه عنها عنهم معه معها هناك هنالك هنا وهو وهي وهم وفي ومن وعلى وإلى وعن ومع وأن وكان
وكانت ولا وما ولم ولن فقد وقد كما لما مما فيما بينما كذلك تم يتم وتم جدا أكثر أقل أول آخر أخرى الأخرى
الأول الأولى الثاني الثانية نحو أمام خلف فوق تحت اليوم أمس غدا الآن حاليا سنة عام العام يوم شهر الشهر
أسبوع الأسبوع وذلك ذات نفس نفسه عدد العديد عدة جميع كافة مثل مثلا وهذا وهذه هذان هاتان أما وأما سواء
بسبب نتيجة لأن كي لكي إذن وقت حين بينهم ضمن جانب حسب بحسب مقابل بشأن حوالي
"""
    ).split()
)
"""Arabic function words and a few very common ones (normalised): never names."""

ARABIC_COMMON_WORDS: tuple[str, ...] = tuple(
    _words(
        """
في من علي ان الي عن التي مع الذي ما بعد خلال هذا هذه انه بين لا كما اليوم قبل وقال ذلك حيث او كان كل لم
قد العام وفي منذ عام اي رئيس تم اكثر حتي الماضي وهو عدد هو غير كانت واضاف بن فيها له وذلك المتحده ومن
اخري انها قال يوم محمد لها وكان بها بعض وقد عبر الا فيما الرئيس امس الاول احد الذين ايضا لكن العالم امام
بشكل هي بان حول السعوديه هناك فيه الله الاولي به وان دون منطقه ولا عليه نحو عليها العمل مدينه وهي منها
العربيه بسبب مثل جميع وزاره العامه وزير اخر المملكه عاما تلك يكون مجلس المنطقه ثم والتي الوقت يمكن ضد
الثاني الامر واوضح اول الحكومه فان اذا فقط بما وكانت ولم وقت وقالت الدولي خاصه الان اداره اجل عند ضمن
داخل الف لدي الامن اكد الولايات عندما كبير البلاد يتم تكون جديده السعودي اكبر كبيره الاخيره عدم القدم
واكد سنوات وفق مليون عمليه ام لن بيان الجمعه وعلي عده السابق تحت ولكن اضافه الوطني الاثنين مما مدير
الخميس حين الاربعاء مشيرا الاحد الفريق ليس جانب باسم الخاصه الملك اعلنت اما المقبل الاتحاد بحسب الدوله
الثلاثاء موقع اعلن الامريكيه والذي مستوي ايام الخارجيه اذ السبت ال بينما فقد بل لهم مساء وجود الدول عمل
عبد لكره شركه ثلاثه نهايه الحالي مجموعه عبدالله عبدالعزيز وسط الفتره اليه الامير شهر الجديد نفسه الدكتور
التواصل فريق الاسبوع الاجتماعي واشار حاله الدوليه العاصمه ذات وما بشان يجب دولار الوزراء تحقيق حاليا
وكاله الدفاع الامريكي الماضيه لان قوات الوطنيه لما احمد طريق بدايه رغم بانه اثر وسائل دول شخص حسب مركز
وفقا الاخري الثانيه اثناء منه الرياض فتره واحد العديد تنظيم افضل مره المجتمع الداخليه وهذا الكثير
العالميه برنامج الجديده العربي كافه مقابل جدا جاء قالت اطار وكذلك مختلف كاس السلطات عنه يذكر بالاضافه
تقديم محافظه وبعد سلمان الرسمي المدينه واحده مصدر دعم مؤكدا اشهر لجنه ظل وتم جديد خالد دور مواقع قرار حال
دوله سيكون ريال الشهر لمده النادي صاحب اف المتحدث الاعلام مناطق الماليه سنه وبين منهم احدي الاعمال الجيش
سوريا الامنيه انهم روسيا مشروع بي مصر وضع تونس تويتر يعد الامارات قائلا الساعه ايران مباراه جهه الموسم
جنوب الناس الشباب عمليات شمال بالنسبه بناء النظام لكل الاف بهدف الجميع مصادر الشرطه الشركه الرسميه اللجنه
يوليو نائب بدات تقدم الشعب القوات بعدما مليار الشرق حد نادي اوروبا لهذا اعمال اعاده هيئه خارج اهميه
بمنطقه الاقتصاديه تطبيق صباح الاداره نفس الخاص واضافت الاوسط الارهاب نظام كبيرا مجال مدي قام الحرمين
الاسلاميه المباراه لكنه الانسان رفع عنها تصريح مارس قتل الجاري اربعه امر المركز الاتفاق نتيجه الجهات
بلاده وتابع مقتل الوطن يونيو الخبر التابعه المواطنين المصري الفرنسي بكل نقل المحليه الحياه شيء الشريفين
سي بدا عقب سواء صحيفه اليمن وليس تنفيذ العسكريه بينهم معه التعاون بينها استخدام الدوري ثلاث يكن الحرب عقد
حركه نحن ولايه قطاع الحكوميه مؤخرا الشيخ اقل سبق المناطق بنسبه كانوا المقبله الخدمات عددا كثيرا اطلاق
سابق مضيفا الانباء اعضاء دونالد ارتفاع عشر زياده شخصا مختلفه لاعب القرار العلاقات كذلك اغسطس الاخير
الهيئه دبي العمر ياتي الحدود الملكي منظمه المشاركه السياسيه الشركات يقول الاجراءات الايام اجراءات الوزاره
ليست بذلك اللاعبين وحتي الامم خلالها عين خادم مواجهه كره رجال الدين خمسه اليها مايو صالح القطاع هل ادي
الوضع وجه تقوم الاجتماعيه سيتم بهذه نسبه اللاعب تعد تعرض اخرين لذلك ولي نشر سعود واشنطن صوره هنا يتعلق
اهم داعش المرحله الارض الثالث المدير العالمي العمليه الحصول الشؤون تاريخ مباشره يقوم جده زياره الثالثه
قامت الاقل تعمل هؤلاء مكان الكبير فرنسا السوق الاوروبي المنتخب بهذا الفرنسيه قائمه ترامب امن لقد محاوله
قدم هم رابط السابقه بانها السنوات قضيه ضروره لهذه كشف بصحيفه اصبح وعدم طلب ستكون العهد الجوهره وقع اجراء
الوئام حزب تطوير قرب حدث الشرقيه خصوصا حكومه عمر سوق وغيرها البريطانيه الرغم شرق يعني الهجوم التجاريه
حوالي تصريحات عسكريه قيمه شركات المعلومات الفني فرصه اعلان عليهم ومع التحالف اسعار حسن المدرب دوري طويله
ساعه السوري المجلس الطريق تصل اعلي الايراني الانتخابات اكدت لو جامعه عشره فتح الموقع النظر يبدو العراق
ملايين نتائج البرنامج الصحه كامل عرض اتفاق القانون الصحيه الكبري كيف مرحله مسؤول حمله بمدينه البعض الواقع
الاقتصاد الهدف الحكم مهمه السياسي الخليج ابرز اشخاص نفسها الدور عيد مقارنه قوه معظم مقر بلغ الجويه تموز
جهته تقرير سوي فهد انا القضيه تركيا تمثل يوما المسؤولين وصل الاطفال نقطه بلغت مؤتمر المزيد اللازمه اللقاء
جانبه اسم اننا التونسي الامور الاميركيه لانه سبتمبر الاخر وهم رساله اهداف المحلي لكنها الارهابيه ربما رجل
وجاء وذكر افريقيا ظهر السمو لوكاله ابو حزيران اداء السوريه لندن تزال الازمه سمات الاعلامي خدمه القادم
المشروع افراد فضلا المتوقع بريطانيا حل اسرائيل التحقيق عناصر الانسانيه الاقتصادي يزال تحمل اوضح بطوله
مشاركه مكتب تمكنت الالكتروني هجوم توفير البيان الحاليه خطه قوله الجنوبيه المصريه الشعبيه دائما حقوق
اجتماع وبحسب لقاء الاكثر البحث دفع لنا شهدت استمرار حمايه تماما احدث القادمه التعامل الدعم يبلغ الوصول
نصف للمره نظرا الاسباني حق سجل عضو يصل عشرات الروسي النووي بدء اصبحت الكبيره الاوروبيه التعليم بقياده
تراجع اقامه الاساسيه يوجد ايار الاشخاص النار ابناء تجاه ابريل كثير الانجليزي المستوي معلومات يعرف الجانب
واكدت تحديد تمت معها هدف غرب الاميركي قائد قويه اربع المختلفه قياده واوضحت ابراهيم يعود القبض تسجيل حياه
راس سوف سبيل السلام المدني اعداد وصلت الانترنت وذكرت تعزيز وانه دخول المجموعه جراء الجمهوريه مكه سلسله
المحافظه النهائي اليمني وهذه رمضان شبكه ساعات المجال خمس الشماليه نسخه الطبيه العوده رفض يعمل ذاته
المنظمه بمحافظه ويقول واشارت تاتي العسكري الكره تقارير فرض وفاه المكرمه بحضور التركي امير الجهود لتحقيق
التنفيذي خدمات سته الغربيه انحاء فيديو وصول ازمه حجم الاراضي المهندس اليمنيه مدرب مطار وراء ملعب الحادث
الشرعيه اولي بهم علاقه مطلع يعتبر لي اب وحده كثيره الهلال الفنيه الامين قانون المصدر الاسرائيلي لافتا
مكافحه وعدد البحر حفل مباريات الاعلان بدلا طريقه كانون فيصل ابطال عسير كشفت اثار فهو يحدث القضاء العليا
النفط البلدين صفوف اتخاذ تغيير للغايه الارهابي الطاقه خاص اذار سياره رد بطريقه البالغ المقرر السيطره
البطوله بالمنطقه التاريخ تبدا بقيمه جهود تكن ماليه السنه الصين مبينا العرب جزء فريقه الحديث قناه برامج
المائه العمليات وبالتالي باريس واسعه عاليه الفطر الرئيسيه المبارك المستشفي دراسه الفوز المناسبه حرب شارك
اصابه امنيه امريكا كنت المواقع حكم حدود اكتوبر الحوثيين تشرين البرلمان البلد الواقعه تمكن امكانيه فرق
الرابع فعاليات الرياضي المحكمه مستشفي تدخل درجه ورغم التنميه المسلحه جاءت كلمه منتصف الاكبر وياتي
الاجتماع تبلغ الايرانيه التونسيه بدون نهائي القياده تعتبر تسعي الطوارئ منتخب بيانات المياه السيارات
تفاصيل القيام تقول رقم عبدالرحمن كبار الوحيد تحدث تلقي حصل لديها التركيه بالفعل العقوبات وافاد اتحاد
الاحمر مؤسسه رسميا وكل المانيا وعن الرئاسه يقدم ولن ايه لاي الشخصيه ديسمبر الابيض اصحاب راي المدن تقريبا
ذكر فوق علينا عربي يمثل افاد باستخدام يناير سابقا الايطالي العلاقه انتهاء فبراير خطوه البيت المعارضه
دقيقه اسباب مهرجان مقابله يزيد القوي يحمل ارض المتعلقه طالب جري منصور التقرير سكان الالماني التجاره ممن
اعلام تابعه نايف النساء بالتعاون الاطراف البلديه اجمالي تشمل الاسلحه والي حساب مهما اشار الحوثي الملعب
الروسيه يؤدي ايقاف ثانيه اعوام الاسلامي سعيد يوسف الحركه الرياضيه المقابل ارهابيه سقوط شرطه قدره انشاء
بلا لدينا الاجهزه وهناك خلفيه بصوره موعد عوده المركزي تضم تظهر المواد فهي مساعد العزيز الدقيقه حسين النقل
السلطه النجم المستقبل اشاره مدريد قريبا المالي انتاج وغير سياسيه الجوله سبب صور منع الالكترونيه المكان
معهم يا موسم اختيار المره لديه يجري شكل قوي المراه ثاني محكمه والعمل مجددا المعنيه النتائج ذكرت قضايا
الرابعه نيسان الاستثمار بيع فعل وقف خلف مرات العنف امني سعد طهران تشهد حالات واذا امين بعدها فكره باي
الاسلام اجهزه البرامج الوزير الخارج جيده غياب يريد تحرير طائره الاخرين يد نوع نوفمبر الثلاثه رسميه طوال
قررت تهدف تسبب السياسه نشرت مشكله المؤسسات شخصيه قرر المسلمين واصابه بدعم نظيره يوميا الطرق النائب قاعده
لديهم الالمانيه ومنها يورو فانه التنظيم بمناسبه نقاط خط الاسواق جمعيه مراكز نيويورك قسم اسابيع لدعم صحفي
الفرق لانها عقود الاسعار يظهر الرئيسي جماعه الحد واعلن سنويا بعيدا الاحداث للرئيس فلا اعتقد النهائيه
لرئيس الحزب اولا تحقق للعمل الدخول القضايا موضحا المواطن جلسه رؤيه سعر الخدمه المسؤول دوليه لمواجهه مئات
وتقول يري حديثه الدراسه وشدد ونحن ورئيس القاهره صدر صناعه هدفا البنك النصر امراه ودعا ونقلت وقعت عامه
لصالح بقوه مجرد واضحه قطر جميعا الجهاز الصيف القوه موقف القائمه العيد يؤكد الكشف تعود موسكو دعا الجمعيه
التوالي مرور بحيث حادث علم الثقافه قيام ورفع الجهه الاهداف الانديه الفرصه عما اساس الجامعه تواجه التوصل
الاسرائيليه تشير تواصل مشيره الاسد الاستراتيجيه المفاوضات انطلاق لجميع بعدم بعيد تغريده جديدا تتعلق بحق
سابقه سيما بمشاركه يسعي شيئا لاول استراتيجيه الموضوعات السبب منح المشتركه الرجل اسمه سياسه بقيه حي
الطائره اسبوع النمو خلاله قمه سان القرن الاعلي الاموال السكان الطلب العاملين المشكله تشكيل ووفقا المال
الشاب تركي نجم شاهد افتتاح الموضوع تحميل وخاصه مزيد احداث المصادر فرص التقدم مدار مسؤوليه انتخابات ايلول
عادل غدا الاوضاع جزءا مليارات واحدا بد العموميه ففي قدمت للحصول الخطوه الامني بحاجه حضور المجالات لكي
للمشاركه استهدف المشاريع بسرعه رحله لشركه للفريق المئه تبقي اطلق اقتصاديه عسكري الاهتمام الحقيقه بنحو
رئاسه وصف صغيره الدوره انخفاض تجربه تشكل كي صفقه عالم المسؤوليه مشاريع دوره وانا لتقديم ادت الاشهر تؤكد
يسمح سبعه دي لقب مباشر البدايه الوسط وعبر الظروف المحمول خارجيه يشكل المباريات تاثير تعرف العرض صندوق
ناصر يبدا الاتصال التدخل السعوديين الفلسطينيه صحه الاستقرار الحرس جون بلده وانما شبه اسيا الطبي باب بيت
جعل قاده فيسبوك تستهدف وادي وجهه المهمه توفر لماذا محليه الحمله باتجاه الخامس بفضل شهد معدل ملف النقد
نجاح مستويات هجمات توجد فجر كبري استهدفت توجيه تعرضت ومنذ البريطاني بلاغ تحتاج وتاتي يجعل دخل بالقرب ذي
افادت الجنسيه الناطق ويمكن لمن مانشستر يعتقد ينبغي لحقوق 1436ه عباره عدن اخرون رويترز عمله لذا متابعه
التابع ايجاد حقق مسجد وخلال الجزيره الفساد فاز الاتصالات المدنيين البيئه داعيا قيمتها عديده مدن يحتاج
القاعده رئيسه وكيل الثقه ابن الفيديو المقاومه جيدا نطاق ولو الاهلي المشترك العلاج بعنوان طائرات وكشف
الصغيره توقيع للحكومه معسكر اثنين الاعضاء الجمهور كتب الحالات صرح الاستاذ المشرف يشارك وزراء الانتخابيه
بحلول يواجه القطاعات وقبل ولفت الحديثه جيد وتقديم الحوار الكريم المدنيه ماذا واعلنت وربما ولكنه البيانات
برئاسه جهاز ورد الضوء انباء حسابه حسبما الراي لعدم اطلقت علما وبدا الحضور الصور رسمي لتنظيم الخامسه
القومي جويه شباط عامين بينهما طيب غرفه قريه الانتاج يعاني شك مواطن مده نمو استقبال التاريخيه ايطاليا
التجاري الحاجه يقل الصناعيه انتهي تعبيره ردا السياحيه اللعب تتجاوز واضح المقدمه بات الحاله السفر شراء
المختصه السلاح الشان المؤسسه قطع لاحقا للاتحاد اصدار السماح التحتيه برشلونه تعالي شؤون قليله لمكافحه
السياق لبنان ونصف شوال الاستفاده تقع فرقه وحدات الاسره الوديه القديمه انني سلطان المؤتمر بمثابه تريد
وعندما النيابه انتهت الاجانب للامم منزل وبعض الموقف حقيقه خطر الاعلاميه الفعاليات انواع بحث يهدف زعيم صفر
كيفيه العقد زالت الاوليه التحقيقات متر الخروج يضم اللواء المصابين رئيسا موجه يستطيع الحال تجاوز صلاح ابدا
بدوره سياسي اهالي وقوع اشارت ثمانيه حكوميه سلامه اصدرت النهايه تحول اسفر الالاف النواب ويعد العراقيه
بتهمه يمكنكم المنافسه بالكامل تجمع انهاء البحريه فمن مؤشر احياء الطيران الكاتب اصل باهم شملت المنوره زال
عاصمه السفير والاعلام الثلاث حاجه القليله الموافق عاده متعدده البلدان السادس الجماهير الكويت المساعدات
الهجمات بخصوص الزياره القدره امانه اشعارات الاصابه السجن بشده بلد بولايه تعلن هامش مؤكده نقلا الضغط خبراء
عربيه جمع حينها اسماء الارجنتيني مساحه الصوره المهاجم العثور الحفاظ معا وقتل سعودي الدرجه توجه حديث
لوزاره الشخص خطط لضمان الحكومي السوبر العلميه تدريب فهم قصه الجنوب العدل تولي سيتي يومين التالي معالي
وقدم ونقل ليله الطبيعي مستمره طرح اعتبر اغلاق بتقديم سيطره لاعبي للانباء بعضهم تزيد حصلت قيد اخيرا
البرازيلي لحمايه البشريه التدريب الوحده العراقي انفسهم هاتفكم الحق ضبط لاعاده وتعد وفيما دمشق العامله
خطيره رحمه مستقبل امريكي بالعاصمه معرفه واعتبر اتفاقيه مسؤولون ادني اسبانيا السياحه بمقر عاد القانونيه
تتضمن مناسبه واصيب اطفال الداخلي تتم الاجنبيه مبني امريكيه قرارات وجاءت توزيع ظهور سيارات يتجاوز اكده
سجلت المهرجان حدوث مساله دورا اقرب انتشار علاقات مشددا قدر وانها العمال لفتره مساعده وايضا الجنوبي سؤال
اغلب الرحمن جمال تستخدم قرابه اسلحه الحفل يحقق غضون محطه مراحل مضيفه نص النوع تعاني سن التقارير الوكاله
نقلت المشاركين حرص للدفاع للشؤون مسيره تعليق كامله التقنيه الرئاسيه تسلم يحصل اسهم المكتب لاكثر السفاره
صعيد مستشار اضافيه مسافه المراكز الرجال تؤدي شاب عائله عقوبات مراسل اعقاب منصب الواحد بالقول عمره رجب
كوريا الصحي القتلي بالمئه بعضها عقده الاداريه الصحيفه ايجابيه توقف لعام عهد لخدمه اواخر تبين طرف للجميع
مبلغ ونشر الزمن اوباما طرق محافظ الغذائيه فوز وتوفير الموجوده بلديه خطا يحاول الاسباب الخارجي متنوعه
الفور المعسكر جائزه تجري الدينيه دوما الرياضه سياق ضعف اظهرت معرض الرساله الغرب القدس امرا بشار بكثير
بوزاره غزه طويل النوويه ذاتها للمملكه اصدر الخليجيه مصلحه الفلسطيني كنا يعلن التركيز التفاصيل المركزيه
النجاح تغير لبعض الممتاز سير
"""
    )
)
"""The 2,000 Arabic words (normalised) found in the most news articles, commonest first: SaudiNewsNet,
ANT v1.1 and ANT multi-source, 58,628 articles (tests/fixtures/crossscript/build_common_words.py). The
indexer's default ``common`` for `document_keys`: a fixed list, so a small corpus or one that names the
same person in every text (Tatoeba's سامي) still gets its names' keys."""


def _known_english(word: str) -> bool:
    """Whether a lowercase word or a plain inflection of it (-s, -es, -ies, -ed, -ing, -ly) is common."""
    if word in ENGLISH_COMMON_WORDS:
        return True
    for suffix, repl in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
    ):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 3 and stem + repl in ENGLISH_COMMON_WORDS:
            return True
    return word.endswith("ly") and word[:-2] in ENGLISH_COMMON_WORDS


_LATIN_TOKEN_RE = re.compile(r"[A-Za-zÀ-ÖØ-öø-ɏ]+(?:['’][A-Za-zÀ-ÖØ-öø-ɏ]+)*")
_SENTENCE_END_RE = re.compile(r"(?:^|[.!?؟:;\n])\s*[\"'“‘(]*$")


def candidate_names(query: str) -> list[str]:
    """Words of an English (or mixed) query that can be names.

    A word is a candidate when it is capitalised and not at the start of a sentence (except function
    words and titles such as "The" or "President"), when it is capitalised at the start of a sentence
    but not in ENGLISH_COMMON_WORDS, or when it is longer than 3 letters and not in that list. Question
    words, month and weekday names and number words never are.

    Args:
        query: The query text.

    Returns:
        Distinct candidates as written (a possessive "'s" removed), in query order.
    """
    names: list[str] = []
    seen: set[str] = set()
    for match in _LATIN_TOKEN_RE.finditer(query):
        word = re.sub(r"['’]s$", "", match.group())
        lower = word.lower()
        if len(lower) < 2 or lower in seen or lower in _QUESTION_WORDS or lower in _NOT_NAMES_EN:
            continue
        if word[0].isupper() and not _SENTENCE_END_RE.search(query[: match.start()]):
            keep = lower not in _NEVER_NAMES
        else:
            keep = not _known_english(lower) and (word[0].isupper() or len(lower) > 3)
        if keep:
            seen.add(lower)
            names.append(word)
    return names


def _arabic_forms(folded: str) -> set[str]:
    """A folded word and its readings without a proclitic, for look-ups in word lists (للرئيس -> الرئيس)."""
    stems = {folded, _strip_article(folded), _strip_article(folded, _RARE_ARTICLE_PROCLITICS)}
    if folded[0] in _SINGLE_PROCLITICS and len(folded) > _MIN_STEM:
        stems |= {folded[1:], _strip_article(folded[1:])}
    return stems | {"ال" + stem for stem in stems if stem != folded and not stem.startswith("ال")}


def arabic_name_candidates(words: Iterable[str], common: set[str] | frozenset[str]) -> list[str]:
    """Arabic words that can be names: 3+ letters, not function words, not common in the corpus.

    A word is left out when it, or a reading of it without a proclitic (و, ب, ل, ف, ك, ال, وال, بال,
    لل, ...), is in ARABIC_FUNCTION_WORDS, is a month name or a number word, or is in ``common``.

    Args:
        words: Words, raw or normalised; tokens without Arabic letters are ignored.
        common: The corpus's most common words, folded with `normalize_arabic` (the indexer chooses how
            many; an empty set keeps every word that is not a function word).

    Returns:
        Distinct candidates as given (the first spelling of each folded form), in order.
    """
    seen: set[str] = set()
    names: list[str] = []
    for word in words:
        folded = _fold_arabic_word(word)
        if len(folded) < _MIN_STEM or folded in seen:
            continue
        seen.add(folded)
        if not any(
            f in ARABIC_FUNCTION_WORDS or f in common or f in _AR_NOT_NAMES for f in _arabic_forms(folded)
        ):
            names.append(word)
    return names


# ---------------------------------------------------------------------------------------------------------
# Numbers

_EN_UNITS = {
    word: value
    for value, word in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
            "sixteen seventeen eighteen nineteen"
        )
    )
}
_EN_TENS = {
    word: 10 * (i + 2)
    for i, word in enumerate(_words("twenty thirty forty fifty sixty seventy eighty ninety"))
}
_EN_SCALES = {
    "thousand": 10**3,
    "million": 10**6,
    "mn": 10**6,
    "billion": 10**9,
    "bn": 10**9,
    "trillion": 10**12,
}
_EN_MULTIPLIERS = _EN_SCALES | {w + "s": v for w, v in _EN_SCALES.items() if len(w) > 2}

# After normalize_arabic (أ/إ/آ -> ا, ة -> ه). Multipliers after a number, any form.
_AR_MULTIPLIERS = dict.fromkeys(("الف", "الفا", "الاف"), 10**3)
_AR_MULTIPLIERS |= dict.fromkeys(("مليون", "مليونا", "ملايين"), 10**6)
_AR_MULTIPLIERS |= dict.fromkeys(("مليار", "مليارا", "مليارات", "بليون", "بلايين"), 10**9)
_AR_MULTIPLIERS |= dict.fromkeys(("تريليون", "ترليون", "تريليونات"), 10**12)
# Alone, only singular and dual forms are numbers (آلاف, ملايين mean "thousands", "millions").
_AR_MULTIPLIERS_ALONE = {
    **dict.fromkeys(("الف", "الفا"), 10**3),
    **dict.fromkeys(("الفان", "الفين"), 2 * 10**3),
    **dict.fromkeys(("مليون", "مليونا"), 10**6),
    **dict.fromkeys(("مليونان", "مليونين"), 2 * 10**6),
    **dict.fromkeys(("مليار", "مليارا"), 10**9),
    **dict.fromkeys(("ملياران", "مليارين"), 2 * 10**9),
    "تريليون": 10**12,
}
_AR_UNIT_STEMS = ("ثلاث", "اربع", "خمس", "ست", "سبع", "ثمان", "تسع", "عشر")
_AR_UNITS = dict.fromkeys(("اثنان", "اثنين", "اثنتان", "اثنتين"), 2) | {"ثماني": 8, "ثمانيه": 8}
_AR_UNITS |= {stem + ending: i + 3 for i, stem in enumerate(_AR_UNIT_STEMS) for ending in ("", "ه")}
_AR_TENS = {
    stem + ending: 10 * (i + 2)
    for i, stem in enumerate(("عشر", "ثلاث", "اربع", "خمس", "ست", "سبع", "ثمان", "تسع"))
    for ending in ("ون", "ين")
}
_AR_HUNDREDS = dict.fromkeys(("مئه", "مائه"), 100) | dict.fromkeys(
    ("مئتان", "مئتين", "مائتان", "مائتين", "مئتا"), 200
)
_AR_HUNDREDS |= {
    stem + h: (i + 3) * 100 for i, stem in enumerate(_AR_UNIT_STEMS[:-1]) for h in ("مئه", "مائه")
}

_NUMBER_TOKEN_RE = re.compile(r"(?<![0-9])[0-9]+(?:[.,،][0-9]+)*(?![0-9])")
_DOTTED_DATE_RE = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}\.((?:19|20)[0-9]{2})")
_WORD_RE = re.compile(r"[^\W\d_]+")
_NEXT_WORD_RE = re.compile(r"\s*([^\W\d_]+)")
_SEPARATOR_RE = re.compile(r"[.,،]")


def _canonical_number(value: Decimal) -> str:
    """ "n" + the value's digits: no exponent, no trailing zeros ("n2500000000", "n2.5")."""
    if value == value.to_integral_value():
        return f"n{int(value)}"
    return "n" + format(value.normalize(), "f")


def _parse_digits(token: str, before_multiplier: bool) -> tuple[Decimal, bool] | None:
    """Parse digits with separators into (value, plain integer?); None for dates and versions (1.2.3)."""
    seps = _SEPARATOR_RE.findall(token)
    groups = _SEPARATOR_RE.split(token)
    if not seps:
        return Decimal(token), True
    if len(set(seps)) > 1:  # 1,234.5 or 1.234,5: the last separator is the decimal mark
        last = token.rfind(seps[-1])
        try:
            return Decimal(_SEPARATOR_RE.sub("", token[:last]) + "." + token[last + 1 :]), False
        except InvalidOperation:
            return None
    grouped = len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])
    if len(seps) > 1:
        return (Decimal("".join(groups)), False) if grouped else None
    # 100,000 and 100.000 are thousands; 2.5, 2,5 and 2.500 مليار are decimals.
    if grouped and not (before_multiplier and seps[0] in ".،"):
        return Decimal("".join(groups)), False
    return Decimal(groups[0] + "." + groups[1]), False


def _english_word_numbers(text: str) -> list[tuple[int, Decimal]]:
    """(position, value) of English number words: "three", "twenty-five", "a million", "two hundred
    thousand". A lone "one" is left out: it is mostly a pronoun ("one of the")."""
    tokens = list(re.finditer(r"[a-z]+", text))
    words = [m.group() for m in tokens] + [""]
    # joined[j]: token j follows token j - 1 across spaces or a hyphen only (a comma ends a number).
    joined = (
        [False]
        + [not text[a.end() : b.start()].strip(" -\t") for a, b in itertools.pairwise(tokens)]
        + [False]
    )
    found: list[tuple[int, Decimal]] = []
    i = 0
    while i < len(tokens):
        word = words[i]
        if word == "a" and joined[i + 1] and (words[i + 1] == "hundred" or words[i + 1] in _EN_SCALES):
            total, current, j = 0, 1, i + 1
        elif word in _EN_UNITS or word in _EN_TENS:
            total, current, j = 0, 0, i
        else:
            i += 1
            continue
        used: list[str] = []
        while j < len(tokens) and (j == i or joined[j]):
            w, below_hundred = words[j], current % 100
            if w in _EN_TENS and below_hundred == 0:
                current += _EN_TENS[w]
            elif w in _EN_UNITS and (below_hundred == 0 or (below_hundred >= 20 and below_hundred % 10 == 0)):
                current += _EN_UNITS[w]
            elif w == "hundred" and current % 1000 < 10 and (used or word == "a"):
                current = (current - current % 1000) + max(current % 1000, 1) * 100
            elif w in _EN_SCALES and (used or word == "a"):
                total, current = total + max(current, 1) * _EN_SCALES[w], 0
            elif not (w == "and" and used and (words[j + 1] in _EN_UNITS or words[j + 1] in _EN_TENS)):
                break
            used.append(w)
            j += 1
        if total + current and used != ["one"]:
            found.append((tokens[i].start(), Decimal(total + current)))
        i = max(j, i + 1)
    return found


def _arabic_word_numbers(words: list[tuple[int, str]]) -> list[tuple[int, Decimal]]:
    """(position, value) of Arabic number words: ثلاثه, خمسه عشر, خمسه وعشرين, ثلاثه الاف, مئه الف, مليون."""
    found: list[tuple[int, Decimal]] = []
    following = [w for _, w in words[1:]] + [""]
    i = 0
    while i < len(words):
        pos, word = words[i]
        value, j = 0, i + 1
        if word in _AR_HUNDREDS:
            value = _AR_HUNDREDS[word]
        elif word in _AR_UNITS:
            value = _AR_UNITS[word]
            nxt = following[i]
            if nxt in ("عشر", "عشره") and value < 10:
                value, j = value + 10, j + 1
            elif nxt.startswith("و") and nxt[1:] in _AR_TENS:
                value, j = value + _AR_TENS[nxt[1:]], j + 1
        elif word in _AR_TENS:
            value = _AR_TENS[word]
        if value:
            if following[j - 1] in _AR_MULTIPLIERS:
                value, j = value * _AR_MULTIPLIERS[following[j - 1]], j + 1
            found.append((pos, Decimal(value)))
            i = j
            continue
        if word in _AR_MULTIPLIERS_ALONE:
            found.append((pos, Decimal(_AR_MULTIPLIERS_ALONE[word])))
        i += 1
    return found


def _prepare(text: str) -> str:
    """normalize_arabic, with the Arabic separators ٬ and ٫ as "," and "."."""
    return normalize_arabic(text).replace("٬", ",").replace("٫", ".")


def number_keys(text: str) -> list[str]:
    """Canonical number keys of English or Arabic text.

    Recognised: digits with thousands separators (100,000 / 100.000 / ١٠٠٬٠٠٠) or a decimal mark (2.5);
    digits followed by a multiplier in either language (100 ألف, 3 ملايين, 2.5 مليار, 3 million, $2.5bn);
    English number words ("three", "twenty-five", "two hundred thousand"; "one" only with "hundred" or
    a multiplier); Arabic number words (ثلاثة, خمسة وعشرون, ثلاثة آلاف, مئة ألف); Arabic multipliers
    alone in the singular or dual (ألف, مليون, ملياران; not the plurals آلاف, ملايين). A plain 4-digit
    number from 1900 to 2099 also gives a year key, and so does the year of a date such as 30.12.2021.

    Args:
        text: Raw or normalised text.

    Returns:
        Distinct keys in text order, such as "n100000", "n2.5", "y2021".
    """
    t = _prepare(text)
    found: list[tuple[int, str]] = []
    consumed: set[int] = set()
    for match in _NUMBER_TOKEN_RE.finditer(t):
        token = match.group()
        next_word = _NEXT_WORD_RE.match(t, match.end())
        word = next_word.group(1) if next_word else ""
        multiplier = _AR_MULTIPLIERS.get(word) or _EN_MULTIPLIERS.get(word)
        parsed = _parse_digits(token, before_multiplier=multiplier is not None)
        if parsed is None:
            date = _DOTTED_DATE_RE.fullmatch(token)
            if date:
                found += [(match.start(), f"n{date.group(1)}"), (match.start(), f"y{date.group(1)}")]
            continue
        value, plain = parsed
        if multiplier and next_word:
            value *= multiplier
            consumed.add(next_word.start(1))
        found.append((match.start(), _canonical_number(value)))
        if plain and not multiplier and len(token) == 4 and 1900 <= value <= 2099:
            found.append((match.start(), f"y{token}"))
    found += [(pos, _canonical_number(value)) for pos, value in _english_word_numbers(t)]
    words = [(m.start(), m.group()) for m in _WORD_RE.finditer(t) if m.start() not in consumed]
    found += [(pos, _canonical_number(value)) for pos, value in _arabic_word_numbers(words)]
    found.sort(key=lambda item: item[0])
    return list(dict.fromkeys(key for _, key in found))


# ---------------------------------------------------------------------------------------------------------
# Dates

_ENGLISH_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        _words("january february march april may june july august september october november december")
    )
}
_ENGLISH_MONTH_ABBREVIATIONS = {name[:3]: number for name, number in _ENGLISH_MONTHS.items() if name != "may"}
_ENGLISH_MONTH_ABBREVIATIONS["sept"] = 9
_ENGLISH_WEEKDAYS = frozenset(_words("monday tuesday wednesday thursday friday saturday sunday"))

# After normalize_arabic: Egyptian/Gulf, Levantine/Iraqi and Maghrebi names.
_AR_MONTH_NAMES = (
    "يناير|جانفي|كانون الثاني|كانون ثاني",
    "فبراير|فيفري|شباط",
    "مارس|اذار",
    "ابريل|افريل|نيسان",
    "مايو|ماي|ايار",
    "يونيو|يونيه|جوان|حزيران",
    "يوليو|يوليه|جويليه|تموز",
    "اغسطس|اوت|اب",
    "سبتمبر|ايلول",
    "اكتوبر|تشرين الاول|تشرين اول",
    "نوفمبر|تشرين الثاني|تشرين ثاني",
    "ديسمبر|كانون الاول|كانون اول",
)
_AR_MONTHS = {name: i + 1 for i, names in enumerate(_AR_MONTH_NAMES) for name in names.split("|")}
# Also ordinary words or names (مارس "he practised", اب "father", نيسان Nissan, ماي and may, جوان Juan,
# march): months only next to a day or a year, or after "شهر" / "month of".
_AMBIGUOUS_MONTHS = frozenset({"مارس", "اب", "نيسان", "ماي", "جوان", "اوت", "may", "march"})
_AR_NOT_NAMES = frozenset({*_AR_UNITS, *_AR_TENS, *_AR_HUNDREDS, *_AR_MULTIPLIERS, *_AR_MULTIPLIERS_ALONE})
_AR_NOT_NAMES |= frozenset(name for name in _AR_MONTHS if " " not in name)
_NOT_NAMES_EN = frozenset(
    {*_ENGLISH_MONTHS, *_ENGLISH_WEEKDAYS, *_EN_UNITS, *_EN_TENS, "hundred", *_EN_MULTIPLIERS}
)

_EN_MONTH_RE = "|".join(sorted([*_ENGLISH_MONTHS, *_ENGLISH_MONTH_ABBREVIATIONS], key=len, reverse=True))
_AR_MONTH_RE = "|".join(sorted((m.replace(" ", r"\s+") for m in _AR_MONTHS), key=len, reverse=True))
_MONTH_RE = re.compile(
    rf"(?<![^\W\d_])(?:(?P<en>{_EN_MONTH_RE})\.?|[وبلف]{{0,2}}(?P<ar>{_AR_MONTH_RE}))(?![^\W\d_])"
)
_DAY_BEFORE_RE = re.compile(r"(?<![0-9])(?:ال)?([0-9]{1,2})(?:st|nd|rd|th)?\s*(?:(?:of|من)\s+)?[-–,]?\s*$")
_DAY_AFTER_RE = re.compile(r"\s*,?\s*([0-9]{1,2})(?:st|nd|rd|th)?(?![0-9])")
_YEAR_AFTER_RE = re.compile(r"\s*(?:of\s+|/\s*[^\W\d_]+\s+)?,?\s*(?:19|20)[0-9]{2}(?![0-9])")
_MONTH_WORD_BEFORE_RE = re.compile(r"(?:شهر|month\s+of|month)\s+$")
_NUMERIC_DATE_RE = re.compile(
    r"(?<![0-9])(?:([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-](?:19|20)[0-9]{2}"
    r"|(?:19|20)[0-9]{2}-([0-9]{1,2})-([0-9]{1,2}))(?![0-9])"
)


def date_keys(text: str) -> list[str]:
    """Month and day-of-month keys of English or Arabic text.

    Month names in English (January, Jan., Sept.) and Arabic (يناير ... ديسمبر and their variants, the
    Levantine كانون الثاني ... كانون الأول, the Maghrebi جانفي ... ديسمبر) give "m01" ... "m12"; a day
    next to the month ("30 December", "December 30th", "30 ديسمبر", "الـ30 من كانون الأول") also gives
    "d30m12", and so do numeric dates (30/12/2021, 30.12.2021, 2021-12-30). Abbreviations and names
    that are also ordinary words (May, March, مارس, آب, نيسان, ...) count only next to a day or a year,
    or after "شهر" / "month of".

    Args:
        text: Raw or normalised text.

    Returns:
        Distinct keys in text order.
    """
    t = _prepare(text)
    found: list[tuple[int, str]] = []
    for match in _MONTH_RE.finditer(t):
        start, end = match.span()
        if match.group("en"):
            name = match.group("en")
            month = _ENGLISH_MONTHS.get(name) or _ENGLISH_MONTH_ABBREVIATIONS[name]
            ambiguous = name in _AMBIGUOUS_MONTHS or name not in _ENGLISH_MONTHS
        else:
            name = re.sub(r"\s+", " ", match.group("ar"))
            month, ambiguous = _AR_MONTHS[name], name in _AMBIGUOUS_MONTHS
        day_match = _DAY_BEFORE_RE.search(t, max(0, start - 16), start)
        if day_match is None and match.group("en"):
            day_match = _DAY_AFTER_RE.match(t, end)
        day = int(day_match.group(1)) if day_match else 0
        day = day if 1 <= day <= 31 else 0
        if ambiguous and not (
            day or _YEAR_AFTER_RE.match(t, end) or _MONTH_WORD_BEFORE_RE.search(t, max(0, start - 12), start)
        ):
            continue
        found.append((start, f"m{month:02d}"))
        if day:
            found.append((start, f"d{day}m{month:02d}"))
    for match in _NUMERIC_DATE_RE.finditer(t):
        first, second, iso_month, iso_day = match.groups()
        day, month = (int(first), int(second)) if first else (int(iso_day), int(iso_month))
        if first and month > 12 >= day:
            day, month = month, day  # 12/30/2021, US order
        if 1 <= month <= 12 and 1 <= day <= 31:
            found += [(match.start(), f"m{month:02d}"), (match.start(), f"d{day}m{month:02d}")]
    found.sort(key=lambda item: item[0])
    return list(dict.fromkeys(key for _, key in found))


# ---------------------------------------------------------------------------------------------------------
# Per passage and per query


def document_keys(text: str, common: set[str] | frozenset[str]) -> list[str]:
    """The keys the indexer stores for one passage: names ("p:bxrst"), numbers, years and dates.

    Arabic words that can be names (`arabic_name_candidates`) give every reading of `arabic_name_keys`;
    Latin words of 3+ letters that are not in ENGLISH_COMMON_WORDS (names left in Latin script, such as
    "Netflix") give their `latin_name_key`. Skeletons shorter than 2 letters are left out.

    Args:
        text: The passage, raw or normalised.
        common: The corpus's most common words, folded with `normalize_arabic`.

    Returns:
        Distinct keys: names, then numbers and years, then dates, each in text order.
    """
    keys = [
        key
        for word in arabic_name_candidates(_AR_WORD_RE.findall(text), common)
        for key in arabic_name_keys(word)
    ]
    for match in _LATIN_TOKEN_RE.finditer(text):
        if len(match.group()) >= 3 and not _known_english(match.group().lower()):
            keys.append(latin_name_key(match.group()))
    names = [NAME_PREFIX + key for key in keys if len(key) >= MIN_NAME_KEY]
    return list(dict.fromkeys(names + number_keys(text) + date_keys(text)))


def common_words(texts: Iterable[str], limit: int = COMMON_WORDS, min_texts: int = 2) -> list[str]:
    """The ``limit`` Arabic match words found in the most texts, for `document_keys`'s ``common``.

    Words are `tokenize_for_match` terms with Arabic letters, counted once per text; a word in fewer than
    ``min_texts`` texts is never common (in a small corpus every word would be); ties go to the
    alphabetically first, so the same texts always give the same list.

    Args:
        texts: The corpus's articles (title and text).
        limit: How many words to return.
        min_texts: In how many texts a word must be found at least.

    Returns:
        At most ``limit`` normalised words, commonest first.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({t for t in tokenize_for_match(text) if has_arabic(t)})
    ranked = sorted(
        (item for item in counts.items() if item[1] >= min_texts), key=lambda item: (-item[1], item[0])
    )
    return [word for word, _ in ranked[:limit]]


def key_idf(df: int, passages: int) -> float:
    """BM25's inverse document frequency of a key found in ``df`` of ``passages`` passages."""
    return math.log(1.0 + (passages - df + 0.5) / (df + 0.5))


def query_keys(query: str) -> list[str]:
    """The keys of an English, Arabic or mixed query: names, numbers, years and dates.

    English names come from `candidate_names`. Arabic words that are not function words give their
    `arabic_name_key` (a query has no corpus statistics: drop keys whose posting lists are long).

    Args:
        query: The query text.

    Returns:
        Distinct keys: names, then numbers and years, then dates, each in query order.
    """
    keys = [latin_name_key(word) for word in candidate_names(query)]
    keys += [
        arabic_name_key(word) for word in arabic_name_candidates(_AR_WORD_RE.findall(query), frozenset())
    ]
    names = [NAME_PREFIX + key for key in keys if len(key) >= MIN_NAME_KEY]
    return list(dict.fromkeys(names + number_keys(query) + date_keys(query)))


class QueryKey(NamedTuple):
    """A query key, what it is worth as evidence, and whether to look up its approximate forms."""

    key: str
    weight: float
    tolerant: bool


def weighted_query_keys(query: str) -> list[QueryKey]:
    """`query_keys` with how much each is worth and how to look it up.

    Weight: 1.0, or `WEAK_NAME` for a name key that only comes from lowercase words ("subsoil",
    "primality": mostly ordinary words the English list lacks) or from acronyms ("HD", "MLS": Arabic text
    seldom spells them out). Tolerant: a name written in Latin script, whose Arabic spelling varies
    (prefixes, one edit: `lookup_terms`); a name written in Arabic script meets the text's own spelling,
    so it matches its skeleton exactly, as numbers and dates do.

    Args:
        query: The query text.

    Returns:
        `QueryKey`s in `query_keys` order.
    """
    weights: dict[str, float] = {}
    for word in candidate_names(query):
        weak = not word[0].isupper() or (len(word) > 1 and word.isupper())
        key = NAME_PREFIX + latin_name_key(word)
        weights[key] = max(weights.get(key, 0.0), WEAK_NAME if weak else 1.0)
    return [QueryKey(key, weights.get(key, 1.0), key in weights) for key in query_keys(query)]

"""The language table: the words each Svara language reads numbers, money, times and dates with.

Cardinals come from `indic-numtowords` (the `numbers` code) and month names from CLDR through
`babel` (the `months` locale); everything else a reader needs is here, one entry per language.
Templates take `{n}` (a number already in words), `{a}`/`{b}` (range ends), `{h}`/`{m}` (hours and
minutes). Languages without words of their own in those libraries borrow a close language's; a
comment at each says what is borrowed, and the README ("Text normalization") lists them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, fields, replace

# Written ordinal suffixes and the form each asks for: m(asculine), f(eminine), o(blique/plural),
# a(djectival, Tamil "-ஆம்").
_ENGLISH_SUFFIXES = {"st": "m", "nd": "m", "rd": "m", "th": "m"}


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    script: str  # ISO 15924 code of the script its words are written in
    numbers: str  # indic-numtowords language code ("en": this package's own English words)
    months: str  # babel locale of the month names
    rupee: tuple[str, str]  # one, many
    paisa: tuple[str, str]
    dollar: tuple[str, str]
    cent: tuple[str, str]
    percent: str
    point: str  # the decimal point, read between the whole part and the digits after it
    minus: str
    plus: str
    range: str
    time: str  # h:mm
    hour: str  # h:00
    day_parts: tuple[str, str, str, str] | None  # morning, afternoon, evening, night (for AM/PM)
    year_hundreds: str | None = None  # 1999 as "nineteen hundred ninety-nine", where that is how years are read
    ordinals: str = ""  # the ordinal rule in ordinals.py; "" reads ordinals as cardinals
    ordinal_suffixes: dict[str, str] = field(default_factory=dict)
    hour_after: tuple[str, ...] = ()  # a word after "10:30" that the time reading already says
    # Quarter past, half past, quarter to, one and a half, two and a half: "साढ़े दस बजे" for 10:30
    # (and "ढाई लाख" for 2.5 lakh), as North and East Indian languages say them.
    quarters: tuple[str, str, str, str, str] | None = None
    money_join: str = " "  # between rupees and paise
    before_noun: dict[str, str] = field(default_factory=dict)  # last word of a number before a noun
    indian_grouping: bool = True  # plain 125000 read as 1,25,000 (English: Indian English only)

    def __post_init__(self) -> None:
        # Text is NFC-normalised before rules run; so are the words, so that they match it.
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, str):
                object.__setattr__(self, spec.name, unicodedata.normalize("NFC", value))
            elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                object.__setattr__(self, spec.name, tuple(unicodedata.normalize("NFC", v) for v in value))
            elif isinstance(value, dict):
                object.__setattr__(
                    self, spec.name, {unicodedata.normalize("NFC", k): v for k, v in value.items()}
                )


_HINDI_SUFFIXES = {
    **_ENGLISH_SUFFIXES,
    **dict.fromkeys(("ला", "रा", "था", "ठा", "वाँ", "वां", "वा"), "m"),
    **dict.fromkeys(("ली", "री", "थी", "ठी", "वीं", "वी"), "f"),
    **dict.fromkeys(("ले", "रे", "थे", "ठे", "वें", "वे"), "o"),
}

HINDI = Language(
    code="hi",
    name="Hindi",
    script="Deva",
    numbers="hi",
    months="hi",
    rupee=("रुपया", "रुपये"),
    paisa=("पैसा", "पैसे"),
    dollar=("डॉलर", "डॉलर"),
    cent=("सेंट", "सेंट"),
    percent="{n} प्रतिशत",
    point="दशमलव",
    minus="माइनस",
    plus="प्लस",
    range="{a} से {b}",
    time="{h} बजकर {m} मिनट",
    hour="{h} बजे",
    day_parts=("सुबह", "दोपहर", "शाम", "रात"),
    year_hundreds="{h} सौ {l}",
    ordinals="hi",
    ordinal_suffixes=_HINDI_SUFFIXES,
    hour_after=("बजे",),
    quarters=("सवा", "साढ़े", "पौने", "डेढ़", "ढाई"),
)

_LANGUAGES: list[Language] = [
    HINDI,
    # Approximation: Bhojpuri, Magahi and Chhattisgarhi have no number words of their own in
    # indic-numtowords or CLDR; Hindi's are close and understood (Devanagari): Hindi words throughout.
    replace(HINDI, code="bh", name="Bhojpuri", months="bho"),
    replace(HINDI, code="mag", name="Magahi"),
    replace(HINDI, code="hne", name="Chhattisgarhi"),
    # Approximation: Maithili cardinals and months; times, money and percent in words close to Hindi;
    # ordinals read as cardinals.
    replace(
        HINDI,
        code="mai",
        name="Maithili",
        numbers="mai",
        months="mai",
        rupee=("टाका", "टाका"),
        range="{a} सँ {b}",
        ordinals="",
        ordinal_suffixes=_ENGLISH_SUFFIXES,
        quarters=None,
        year_hundreds=None,
    ),
    # Approximation: Dogri cardinals and months; other words Hindi; ordinals read as cardinals.
    replace(
        HINDI,
        code="doi",
        name="Dogri",
        numbers="doi",
        months="doi",
        ordinals="",
        ordinal_suffixes=_ENGLISH_SUFFIXES,
        quarters=None,
        year_hundreds=None,
    ),
    # Approximation: Bodo cardinals and months; other words Hindi; ordinals read as cardinals.
    replace(
        HINDI,
        code="brx",
        name="Bodo",
        numbers="brx",
        months="brx",
        ordinals="",
        ordinal_suffixes=_ENGLISH_SUFFIXES,
        quarters=None,
        year_hundreds=None,
    ),
    # Approximation: Sanskrit cardinals and months; other words Hindi; ordinals read as cardinals;
    # above 99 crore the crore is a separate word.
    replace(
        HINDI,
        code="sa",
        name="Sanskrit",
        numbers="sa",
        months="sa",
        rupee=("रूप्यकम्", "रूप्यकाणि"),
        percent="{n} प्रतिशतम्",
        minus="ऋण",
        ordinals="",
        ordinal_suffixes=_ENGLISH_SUFFIXES,
        quarters=None,
        year_hundreds=None,
    ),
    Language(
        code="mr",
        name="Marathi",
        script="Deva",
        numbers="mr",
        months="mr",
        rupee=("रुपया", "रुपये"),
        paisa=("पैसा", "पैसे"),
        dollar=("डॉलर", "डॉलर"),
        cent=("सेंट", "सेंट"),
        percent="{n} टक्के",
        point="पूर्णांक",
        minus="उणे",
        plus="प्लस",
        range="{a} ते {b}",
        time="{h} वाजून {m} मिनिटे",
        hour="{h} वाजता",
        day_parts=("सकाळी", "दुपारी", "संध्याकाळी", "रात्री"),
        year_hundreds="{h}शे {l}",
        ordinals="mr",
        ordinal_suffixes={
            **_ENGLISH_SUFFIXES,
            **dict.fromkeys(("ला", "रा", "था", "वा"), "m"),
            **dict.fromkeys(("ली", "री", "थी", "वी"), "f"),
            **dict.fromkeys(("ले", "रे", "थे", "वे"), "o"),
        },
        hour_after=("वाजता",),
        quarters=("सव्वा", "साडे", "पावणे", "दीड", "अडीच"),
    ),
    Language(
        code="ne",
        name="Nepali",
        script="Deva",
        numbers="ne",
        months="ne",
        rupee=("रुपैयाँ", "रुपैयाँ"),
        paisa=("पैसा", "पैसा"),
        dollar=("डलर", "डलर"),
        cent=("सेन्ट", "सेन्ट"),
        percent="{n} प्रतिशत",
        point="दशमलव",
        minus="माइनस",
        plus="प्लस",
        range="{a} देखि {b}",
        time="{h} बजेर {m} मिनेट",
        hour="{h} बजे",
        day_parts=("बिहान", "दिउँसो", "साँझ", "राति"),
        year_hundreds="{h} सय {l}",
        ordinals="ne",
        ordinal_suffixes={
            **_ENGLISH_SUFFIXES,
            **dict.fromkeys(("लो", "रो", "थो", "औं", "ौं"), "m"),
            **dict.fromkeys(("ली", "री", "थी"), "f"),
        },
        hour_after=("बजे",),
        quarters=("सवा", "साढे", "पौने", "डेढ", "अढाई"),
    ),
    Language(
        code="bn",
        name="Bengali",
        script="Beng",
        numbers="bn",
        months="bn",
        rupee=("টাকা", "টাকা"),
        paisa=("পয়সা", "পয়সা"),
        dollar=("ডলার", "ডলার"),
        cent=("সেন্ট", "সেন্ট"),
        percent="{n} শতাংশ",
        point="দশমিক",
        minus="মাইনাস",
        plus="প্লাস",
        range="{a} থেকে {b}",
        time="{h}টা বেজে {m} মিনিট",
        hour="{h}টা",
        day_parts=("সকাল", "দুপুর", "বিকেল", "রাত"),
        year_hundreds="{h}শো {l}",
        ordinals="bn",
        ordinal_suffixes={
            **_ENGLISH_SUFFIXES,
            **dict.fromkeys(("ম", "য়", "য়া", "র্থ", "ষ্ঠ", "তম"), "m"),
        },
        hour_after=("টায়", "টা"),
        quarters=("সোয়া", "সাড়ে", "পৌনে", "দেড়", "আড়াই"),
    ),
    Language(
        code="as",
        name="Assamese",
        script="Beng",
        numbers="as",
        months="as",
        rupee=("টকা", "টকা"),
        paisa=("পইচা", "পইচা"),
        dollar=("ডলাৰ", "ডলাৰ"),
        cent=("চেণ্ট", "চেণ্ট"),
        percent="{n} শতাংশ",
        point="দশমিক",
        minus="মাইনাছ",
        plus="প্লাছ",
        range="{a}ৰ পৰা {b}লৈ",
        time="{h} বাজি {m} মিনিট",
        hour="{h} বজা",
        day_parts=("পুৱা", "দুপৰীয়া", "আবেলি", "ৰাতি"),
        ordinals="as",
        ordinal_suffixes={**_ENGLISH_SUFFIXES, **dict.fromkeys(("ম", "য়", "ৰ্থ", "ষ্ঠ", "তম"), "m")},
    ),
    Language(
        code="gu",
        name="Gujarati",
        script="Gujr",
        numbers="gu",
        months="gu",
        rupee=("રૂપિયો", "રૂપિયા"),
        paisa=("પૈસો", "પૈસા"),
        dollar=("ડોલર", "ડોલર"),
        cent=("સેન્ટ", "સેન્ટ"),
        percent="{n} ટકા",
        point="પોઇન્ટ",
        minus="માઇનસ",
        plus="પ્લસ",
        range="{a} થી {b}",
        time="{h} વાગીને {m} મિનિટ",
        hour="{h} વાગ્યે",
        day_parts=("સવારે", "બપોરે", "સાંજે", "રાત્રે"),
        year_hundreds="{h} સો {l}",
        ordinals="gu",
        ordinal_suffixes={
            **_ENGLISH_SUFFIXES,
            **dict.fromkeys(("લો", "જો", "થો", "મો", "ઠ્ઠો"), "m"),
            **dict.fromkeys(("લી", "જી", "થી", "મી", "ઠ્ઠી"), "f"),
            **dict.fromkeys(("લા", "જા", "થા", "મા", "ઠ્ઠા"), "o"),
        },
        hour_after=("વાગ્યે",),
        quarters=("સવા", "સાડા", "પોણા", "દોઢ", "અઢી"),
    ),
    Language(
        code="pa",
        name="Punjabi",
        script="Guru",
        numbers="pa",
        months="pa",
        rupee=("ਰੁਪਇਆ", "ਰੁਪਏ"),
        paisa=("ਪੈਸਾ", "ਪੈਸੇ"),
        dollar=("ਡਾਲਰ", "ਡਾਲਰ"),
        cent=("ਸੈਂਟ", "ਸੈਂਟ"),
        percent="{n} ਪ੍ਰਤੀਸ਼ਤ",
        point="ਦਸ਼ਮਲਵ",
        minus="ਮਾਈਨਸ",
        plus="ਪਲੱਸ",
        range="{a} ਤੋਂ {b}",
        time="{h} ਵੱਜ ਕੇ {m} ਮਿੰਟ",
        hour="{h} ਵਜੇ",
        day_parts=("ਸਵੇਰੇ", "ਦੁਪਹਿਰ", "ਸ਼ਾਮ", "ਰਾਤ"),
        year_hundreds="{h} ਸੌ {l}",
        ordinals="pa",
        ordinal_suffixes={
            **_ENGLISH_SUFFIXES,
            **dict.fromkeys(("ਲਾ", "ਜਾ", "ਥਾ", "ਵਾਂ"), "m"),
            **dict.fromkeys(("ਲੀ", "ਜੀ", "ਥੀ", "ਵੀਂ"), "f"),
            **dict.fromkeys(("ਲੇ", "ਜੇ", "ਥੇ", "ਵੇਂ"), "o"),
        },
        hour_after=("ਵਜੇ",),
        quarters=("ਸਵਾ", "ਸਾਢੇ", "ਪੌਣੇ", "ਡੇਢ", "ਢਾਈ"),
    ),
    Language(
        code="te",
        name="Telugu",
        script="Telu",
        numbers="te",
        months="te",
        rupee=("రూపాయి", "రూపాయలు"),
        paisa=("పైస", "పైసలు"),
        dollar=("డాలర్", "డాలర్లు"),
        cent=("సెంట్", "సెంట్లు"),
        percent="{n} శాతం",
        point="పాయింట్",
        minus="మైనస్",
        plus="ప్లస్",
        range="{a} నుండి {b}",
        time="{h} గంటల {m} నిమిషాలు",
        hour="{h} గంటలు",
        day_parts=("ఉదయం", "మధ్యాహ్నం", "సాయంత్రం", "రాత్రి"),
        ordinals="te",
        before_noun={"ఒకటి": "ఒక", "వేలు": "వేల", "లక్షలు": "లక్షల", "కోట్లు": "కోట్ల", "వందలు": "వందల"},
        ordinal_suffixes={**_ENGLISH_SUFFIXES, "వ": "m", "వది": "m"},
        hour_after=("గంటలకు", "గంటలు"),
    ),
    Language(
        code="kn",
        name="Kannada",
        script="Knda",
        numbers="kn",
        months="kn",
        rupee=("ರೂಪಾಯಿ", "ರೂಪಾಯಿ"),
        paisa=("ಪೈಸೆ", "ಪೈಸೆ"),
        dollar=("ಡಾಲರ್", "ಡಾಲರ್"),
        cent=("ಸೆಂಟ್", "ಸೆಂಟ್"),
        percent="ಶೇಕಡ {n}",
        point="ದಶಮಾಂಶ",
        minus="ಮೈನಸ್",
        plus="ಪ್ಲಸ್",
        range="{a_abl} {b}",  # "from ten": the first end in the ablative case (words.ablative)
        time="{h} ಗಂಟೆ {m} ನಿಮಿಷ",
        hour="{h} ಗಂಟೆ",
        day_parts=("ಬೆಳಿಗ್ಗೆ", "ಮಧ್ಯಾಹ್ನ", "ಸಂಜೆ", "ರಾತ್ರಿ"),
        ordinals="kn",
        ordinal_suffixes={**_ENGLISH_SUFFIXES, "ನೇ": "m", "ನೆಯ": "m"},
        hour_after=("ಗಂಟೆಗೆ", "ಗಂಟೆ"),
    ),
    Language(
        code="ta",
        name="Tamil",
        script="Taml",
        numbers="ta",
        months="ta",
        rupee=("ரூபாய்", "ரூபாய்"),
        paisa=("பைசா", "பைசா"),
        dollar=("டாலர்", "டாலர்"),
        cent=("சென்ட்", "சென்ட்"),
        percent="{n} சதவீதம்",
        point="புள்ளி",
        minus="மைனஸ்",
        plus="பிளஸ்",
        range="{a} முதல் {b} வரை",
        time="{h} மணி {m} நிமிடம்",
        hour="{h} மணி",
        day_parts=("காலை", "மதியம்", "மாலை", "இரவு"),
        ordinals="ta",
        before_noun={"ஒன்று": "ஒரு"},
        ordinal_suffixes={**_ENGLISH_SUFFIXES, "வது": "m", "ஆவது": "m", "ஆம்": "a", "ம்": "a"},
        hour_after=("மணிக்கு", "மணி"),
    ),
    Language(
        code="ml",
        name="Malayalam",
        script="Mlym",
        numbers="ml",
        months="ml",
        rupee=("രൂപ", "രൂപ"),
        paisa=("പൈസ", "പൈസ"),
        dollar=("ഡോളർ", "ഡോളർ"),
        cent=("സെന്റ്", "സെന്റ്"),
        percent="{n} ശതമാനം",
        point="ദശാംശം",
        minus="മൈനസ്",
        plus="പ്ലസ്",
        range="{a} മുതൽ {b} വരെ",
        time="{h} മണി {m} മിനിറ്റ്",
        hour="{h} മണി",
        day_parts=("രാവിലെ", "ഉച്ചയ്ക്ക്", "വൈകുന്നേരം", "രാത്രി"),
        ordinals="ml",
        before_noun={"ഒന്ന്": "ഒരു"},
        ordinal_suffixes={**_ENGLISH_SUFFIXES, "-ാം": "m", "ാം": "m", "-ആം": "m", "ആം": "m"},
        hour_after=("മണിക്ക്", "മണി"),
    ),
]

ENGLISH_INDIA = Language(
    code="en",
    name="English (India)",
    script="Latn",
    numbers="en",
    months="en_IN",
    rupee=("rupee", "rupees"),
    paisa=("paisa", "paise"),
    dollar=("dollar", "dollars"),
    cent=("cent", "cents"),
    percent="{n} percent",
    point="point",
    minus="minus",
    plus="plus",
    range="{a} to {b}",
    time="{h} {m}",
    hour="{h} o'clock",
    day_parts=None,
    ordinals="en",
    ordinal_suffixes=_ENGLISH_SUFFIXES,
    money_join=" and ",
)
# Other English voices (Piper's en-US): plain numbers grouped the Western way; a number written
# with Indian commas (1,25,000) is still read in lakhs, as its writer meant.
ENGLISH = replace(ENGLISH_INDIA, code="en-US", name="English", months="en", indian_grouping=False)

LANGUAGES: dict[str, Language] = {lang.code: lang for lang in [*_LANGUAGES, ENGLISH_INDIA]}


def language_for(code: str) -> Language | None:
    """The table entry for a voice's language code ("hi", "en-US", "en-IN", ...), or None for a
    language this table does not know (its text gets the Unicode clean-up only). English codes
    other than "en" and "en-IN" get Western grouping."""
    code = code.strip()
    if code in LANGUAGES:
        return LANGUAGES[code]
    base, _, region = code.replace("_", "-").partition("-")
    base = base.lower()
    if base == "en":
        return ENGLISH_INDIA if region.upper() == "IN" else ENGLISH
    return LANGUAGES.get(base)

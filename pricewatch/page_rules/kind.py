"""Which kind of page this is: a robot check, a 404, or a product."""

from __future__ import annotations

from pricewatch.page_rules.rule import rules

# Robot-check pages are bans, never products: the form posts to
# /errors/validateCaptcha and has a characters field (2015-2025 unchanged).
CAPTCHA_SELECTORS = rules(
    ("form[action*='validateCaptcha']", "captcha form, every era"),
    ("#captchacharacters", "the captcha text input"),
    ("input[name='amzn-r']", "return path field only captcha forms carry"),
)
CAPTCHA_TITLE_PHRASES: list[str] = ["robot check", "bot check"]

# Amazon's 404 "dog" pages: links tagged cs_404 and a localized apology.
NOT_FOUND_SELECTORS = rules(
    ("a[href*='cs_404']", "every link on the 404 page carries ref=cs_404_*"),
    ("img[alt*='Dogs of Amazon']", "the dog picture of the 404 page"),
)
NOT_FOUND_PHRASES: list[str] = [
    "sorry! we couldn't find that page",
    "sorry, we couldn't find that page",
    "page not found",
    "looking for something?",
    "seite wurde nicht gefunden",
    "wir konnten diese seite leider nicht finden",
    "page introuvable",
    "nous sommes désolés. l'adresse web que vous avez entrée ne correspond à aucune page",
    "pagina non trovata",
    "página no encontrada",
    "página não encontrada",
    "sayfa bulunamadı",
    "pagina niet gevonden",
    "ページが見つかりません",
    "الصفحة غير موجودة",
]

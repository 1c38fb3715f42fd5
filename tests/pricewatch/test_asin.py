import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricewatch.asin import extract_asin, is_valid_asin, isbn10_is_valid


@pytest.mark.parametrize(
    "url",
    [
        "https://www.amazon.com/dp/B07CLN88MV",
        "https://www.amazon.com/Some-Product-Slug/dp/B07CLN88MV/ref=sr_1_3?keywords=x&qid=1",
        "https://www.amazon.de/gp/product/B07CLN88MV?th=1&psc=1",
        "https://www.amazon.co.uk/gp/aw/d/B07CLN88MV/",
        "http://www.amazon.com/exec/obidos/ASIN/B07CLN88MV/someassociate-20",
        "amazon.fr/dp/B07CLN88MV#reviews",
        "https://smile.amazon.com/dp/b07cln88mv",
        "https://www.amazon.com/gp/offer-listing/B07CLN88MV/ref=dp_olp",
        "https://www.amazon.com/product-reviews/B07CLN88MV/",
        "https://www.amazon.com/s?k=x&asin=B07CLN88MV",
        "  B07CLN88MV ",
    ],
)
def test_extracts_asin_from_common_url_forms(url):
    assert extract_asin(url) == "B07CLN88MV"


def test_isbn10_asins():
    assert (
        extract_asin("https://www.amazon.com/Programming-Language/dp/0131103628/") == "0131103628"
    )
    assert extract_asin("https://www.amazon.es/dp/840827578X") == "840827578X"
    assert is_valid_asin("0575090677")
    # wrong check digit: not an ISBN, and not a B-id either
    assert not is_valid_asin("0575090678")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "hello",
        "https://www.amazon.com/",
        "https://www.amazon.com/dp/B07CLN88M",
        "https://www.amazon.com/dp/B07CLN88MVX",
        "B07CLN88M!",
        "https://example.com/?q=1",
    ],
)
def test_rejects_non_asins(bad):
    assert extract_asin(bad) is None


@given(st.from_regex(r"B[0-9A-Z]{9}", fullmatch=True), st.text(alphabet="abc-_", max_size=20))
def test_any_b_asin_roundtrips_through_urls(asin, slug):
    assert extract_asin(f"https://www.amazon.com/{slug}/dp/{asin}?ref=x") == asin
    assert extract_asin(f"https://www.amazon.com/gp/product/{asin}") == asin


@given(st.lists(st.integers(0, 9), min_size=9, max_size=9))
def test_isbn10_check_digit(digits):
    total = sum((10 - i) * d for i, d in enumerate(digits))
    check = (11 - total % 11) % 11
    isbn = "".join(map(str, digits)) + ("X" if check == 10 else str(check))
    assert isbn10_is_valid(isbn)
    wrong = "".join(map(str, digits)) + ("0" if isbn[-1] == "X" else "X")
    assert not isbn10_is_valid(wrong)

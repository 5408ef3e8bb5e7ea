"""Phone-sized pages (issue 16), proven in a real Chromium at 390 × 844 CSS pixels (a current phone).

The application runs on a live werkzeug server in a thread, on the test database with the demo network;
a person signs in through the login page (and the second-factor page, with her authenticator's code) as
she would. On the triage inbox, the node's inbox, the lists of cases, the search results and the case
page: nothing scrolls sideways, the header takes less than a fifth of the first screen, and the menu is
folded under «Menú» and opens without any script. On a wide screen the same menu is open without a
click; and an instrument's print view prints without its tools.

Needs /usr/bin/chromium and /usr/bin/chromedriver (`apt-get install chromium chromium-driver`) and
Selenium (the `dev` extra). Without them the tests skip with that message; with CI=true they fail.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from sqlalchemy import select

from referral.kernel.models import Case
from referral.demo.network import DEMO_PASSWORD

from ..browser import DOMAIN, authenticator_code
from ..clocks import to_follow_up
from ..conftest import IN_CI
from ..referrals import consent, refer
from ..steps import activate, file_case, user

PHONE = (390, 844)
HEADER_LIMIT = PHONE[1] / 5  # 168.8 px: the header takes less than a fifth of the first screen
INSTALL = "apt-get install chromium chromium-driver (Debian), and pip install -e '.[dev]' for Selenium"
# A long name and place: a list must wrap them, never widen the page.
LONG = {"nombres": "María de los Ángeles Guadalupe Esperanza", "apellidos": "Quintero-Belandria Hernández de la Fuente"}


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "Selenium is not installed"
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return f"{program} is not on the PATH"
    return None


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        message = f"{missing}: the phone layout tests need a real browser ({INSTALL})"
        if IN_CI:
            pytest.fail(f"{message}, and CI=true requires them", pytrace=False)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--lang=es-CL"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or ""))
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


@pytest.fixture
def live(app: Any) -> Iterator[str]:
    """The test application on a real HTTP server, in a thread; its address."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def phone(driver: Any) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 3, "mobile": True})


def desktop(driver: Any) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})


def sign_in(driver: Any, app: Any, live: str, name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(f"{live}/ingresar")
    email = f"{name}@{DOMAIN}"
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda d: not d.current_url.endswith("/ingresar"))
    if driver.current_url.endswith("/ingresar/codigo"):
        driver.find_element(By.ID, "code").send_keys(authenticator_code(app, email) or "")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        WebDriverWait(driver, 20).until(lambda d: "/ingresar" not in d.current_url)
    assert "/ingresar" not in driver.current_url, f"{name} could not sign in: {driver.current_url}"


MEASURE = """
const width = window.innerWidth;
const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > width + 0.5)
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).replace(/ /g, '.') : ''));
return {width: width, scroll: document.documentElement.scrollWidth,
        header: document.querySelector('header.top').getBoundingClientRect().height, wide: wide};
"""


SHOWN = """
return [...document.querySelectorAll(arguments[0])].map(e => {
  const box = e.getBoundingClientRect();
  return e.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true}) && box.width > 0 && box.height > 0;
});
"""


def assert_fits_a_phone(driver: Any, live: str, path: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(live + path)
    assert "/ingresar" not in driver.current_url, path
    found = driver.execute_script(MEASURE)
    assert found["width"] == PHONE[0], found
    assert found["scroll"] <= PHONE[0], f"{path} scrolls sideways ({found['scroll']} px): {found['wide']}"
    assert found["header"] < HEADER_LIMIT, f"{path}: the header is {found['header']} px tall"
    assert driver.find_element(By.CSS_SELECTOR, "details.menu").get_attribute("open") is None
    assert not any(driver.execute_script(SHOWN, "details.menu nav a, details.menu .session *")), \
        f"{path}: the menu is not folded"
    assert driver.find_element(By.CSS_SELECTOR, "details.menu > summary").is_displayed()


def assert_the_menu_opens(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "details.menu > summary").click()
    assert driver.find_element(By.CSS_SELECTOR, "details.menu").get_attribute("open") is not None
    shown = driver.execute_script(SHOWN, "details.menu nav a, details.menu .session button.link")  # sign out last
    assert len(shown) > 3 and all(shown), shown
    assert driver.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    driver.find_element(By.CSS_SELECTOR, "details.menu > summary").click()
    assert not any(driver.execute_script(SHOWN, "details.menu nav a"))


def lead_case(app: Any) -> str:
    """A case SERNAMEG leads, in follow-up, with running clocks, a consent, a referral to a shelter, a responsible
    person (so the page offers «Reasignar» with its long reasons), a document with a long name and a meeting whose
    agreement is open: every panel of the case page, filled."""
    from referral.cases.assignment import assign

    from ..test_case_attachments import pdf, upload
    from ..test_meetings import hold, record
    from ..units import unit_of_work

    reference = file_case(app, **LONG)
    activate(app, reference, lead="SERNAMEG")
    to_follow_up(app, reference)
    consent(app, reference)
    refer(app, reference, "INCAMI", by="gestor.sernameg", service="alojamiento")
    with unit_of_work(app) as ctx:  # the focal point's coordinator names its case worker
        coordinator, worker = user(ctx, "coordinador.rm"), user(ctx, "gestor.rm")
        assign(ctx, coordinator, reference, worker.id, None, ctx.session.scalar(select(Case.version).where(
            Case.reference == reference)))
        ctx.session.commit()
    upload(app, "gestor.sernameg", reference, pdf(), kind="copia_denuncia",
           name="Denuncia-ante-la-Fiscalia-Regional-Metropolitana-Centro-Norte-version-firmada.pdf")
    record(app, reference, hold(app, reference))
    return reference


def test_the_triage_inbox_fits_a_phone_and_its_menu_opens(app: Any, live: str, driver: Any) -> None:
    for _ in range(3):
        file_case(app, **LONG)
    phone(driver)
    sign_in(driver, app, live, "coordinador.rm")
    assert_fits_a_phone(driver, live, "/bandeja/triaje")
    rows = driver.execute_script("return document.querySelectorAll('table.list.cards tbody tr').length")
    assert rows == 3
    label = driver.execute_script("return getComputedStyle(document.querySelector('table.list.cards td'), "
                                  "'::before').content")
    assert label == '"Caso"'  # each cell of a card says which column it is
    assert_the_menu_opens(driver)


def test_the_node_inbox_lists_and_case_page_fit_a_phone(app: Any, live: str, driver: Any) -> None:
    reference = lead_case(app)
    phone(driver)
    sign_in(driver, app, live, "gestor.sernameg")
    for path in ("/bandeja/casos_liderados", "/casos", "/mis-casos", f"/casos/{reference}",
                 f"/casos/{reference}/formularios/informe_social", "/derivaciones"):
        assert_fits_a_phone(driver, live, path)


def test_a_case_page_with_every_panel_filled_fits_a_phone(app: Any, live: str, driver: Any) -> None:
    """The focal point's view: «Reasignar» with its long reasons, a document with a long name, a meeting with an
    open agreement, deadlines, consents, referrals; none may widen the page."""
    reference = lead_case(app)
    phone(driver)
    sign_in(driver, app, live, "coordinador.rm")
    assert_fits_a_phone(driver, live, f"/casos/{reference}")
    for shown in ("Reasignar", "Denuncia-ante-la-Fiscalia", "Mesas de caso", "gestiona el cupo"):
        assert shown in driver.page_source, shown
    assert_the_menu_opens(driver)


def test_search_results_fit_a_phone(app: Any, live: str, driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    lead_case(app)
    lead_case(app)  # two cases of one person: the search lists them instead of opening one
    phone(driver)
    sign_in(driver, app, live, "gestor.sernameg")
    driver.get(f"{live}/buscar")
    driver.find_element(By.ID, "q").send_keys("VE4417829")
    driver.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "main h2"))
    assert driver.find_elements(By.CSS_SELECTOR, "table.list.cards tbody tr"), "the search listed no case"
    found = driver.execute_script(MEASURE)
    assert found["scroll"] <= PHONE[0], found


def test_on_a_wide_screen_the_menu_is_open_without_a_click(app: Any, live: str, driver: Any) -> None:
    from selenium.webdriver.common.by import By

    desktop(driver)
    sign_in(driver, app, live, "coordinador.rm")
    driver.get(f"{live}/bandeja/triaje")
    assert not driver.find_element(By.CSS_SELECTOR, "details.menu > summary").is_displayed()
    assert driver.find_element(By.CSS_SELECTOR, "details.menu").get_attribute("open") is None
    # Selenium calls whatever is inside a closed <details> hidden; the page's own rendering says otherwise
    shown = driver.execute_script(SHOWN, "details.menu nav a, details.menu .whoami")
    assert len(shown) > 3 and all(shown), shown


def test_an_instrument_prints_without_its_tools(app: Any, live: str, driver: Any) -> None:
    from selenium.webdriver.common.by import By

    reference = lead_case(app)
    phone(driver)
    sign_in(driver, app, live, "gestor.sernameg")
    driver.get(f"{live}/casos/{reference}/formularios/informe_social/imprimir")
    assert driver.find_element(By.CSS_SELECTOR, ".print-tools").is_displayed()
    assert driver.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not driver.find_element(By.CSS_SELECTOR, ".print-tools").is_displayed()
        assert driver.find_element(By.CSS_SELECTOR, ".print-footer").is_displayed()
        assert driver.find_element(By.CSS_SELECTOR, ".print-meta").is_displayed()
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

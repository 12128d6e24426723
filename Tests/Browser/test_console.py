"""The web console in a real browser, as administrators, agency staff and referrers use it."""

import re
import time

from conftest import check_accessibility, screenshot

BEFRIENDING_REFERRAL = {
    "referrer": {"organisation": "K84001", "name": "Dev Referrer"},
    "subject": {
        "nhsNumber": "9997654323", "givenName": "Joan", "familyName": "Specimen", "birthDate": "1950-01-30",
        "postcode": "OX1 2JD", "address": "1 Example Street",
    },
    "needs": ["befriending"],
    "urgency": "routine",
    "reason": "Lives alone and would like company.",
    "consent": {"status": "given"},
}


def text(page, selector):
    return page.locator(selector).inner_text()


def reload_until(page, shown, seconds=15):
    """Reloads the page, as a person would, until `shown()` holds or `seconds` pass."""
    deadline = time.time() + seconds
    while not shown() and time.time() < deadline:
        time.sleep(0.3)
        page.reload()
    return shown()


def test_each_role_signs_in_to_its_own_pages_and_signs_out(person, gateway):
    for role, home, heading in [
        ("admin", "/console/admin", "Overview"), ("charity", "/console/inbox", "Inbox"), ("referrer", "/console/refer", "Make a referral"),
    ]:
        page = person(role)
        assert page.url.endswith(home), page.url
        assert page.get_by_role("heading", level=1).inner_text() == heading
        cookie = next(c for c in page.context.cookies() if c["name"] == "switchboard_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
        page.get_by_role("button", name="Sign out").click()
        assert "/console/sign-in" in page.url and "You are signed out." in page.content()
        page.goto(home)
        assert "/console/sign-in" in page.url, "after sign-out the pages ask for sign-in again"


def test_agency_staff_choose_a_password_and_sign_in_with_it(person, browser, gateway):
    charity = person("charity")
    charity.get_by_role("link", name="Cara at the befriending charity").click()
    assert charity.get_by_role("heading", level=1).inner_text() == "Your account"
    charity.get_by_label("Password", exact=True).fill("violet kettle harbour moss")
    charity.get_by_label("The same password again").fill("violet kettle harbour moss")
    charity.get_by_role("button", name="Set my password").click()
    assert "Your password is set" in charity.get_by_role("status").first.inner_text()
    check_accessibility(charity, "account")
    screenshot(charity, "18-account")
    context = browser.new_context(base_url=gateway.url)
    page = context.new_page()
    page.goto("/console/sign-in")
    page.get_by_label("Your key's name").fill("charity-staff")
    page.get_by_label("Password").fill("violet kettle harbour moss")
    page.get_by_role("button", name="Sign in with password").click()
    assert page.url.endswith("/console/inbox") and "Cara at the befriending charity" in page.content()
    context.close()


def test_a_wrong_key_is_refused_with_a_sentence(browser, gateway):
    context = browser.new_context(base_url=gateway.url)
    page = context.new_page()
    page.goto("/console/sign-in")
    check_accessibility(page, "sign-in")
    screenshot(page, "01-sign-in")
    page.get_by_label("Access key").fill("not-a-key")
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert "That access key is not recognised" in page.get_by_role("alert").inner_text()
    assert not [c for c in context.cookies() if c["name"] == "switchboard_session"]
    context.close()


def test_one_role_cannot_open_another_roles_pages(person, browser, gateway):
    referrer = person("referrer")
    for path in ["/console/admin", "/console/admin/rules", "/console/inbox"]:
        response = referrer.goto(path)
        assert response.status == 403, path
        assert "You are signed in as Dev at Example Practice" in referrer.content()
    charity = person("charity")
    assert charity.goto("/console/refer").status == 403
    assert charity.goto("/console/admin/audit").status == 403
    admin = person("admin")
    assert admin.goto("/console/inbox").status == 403
    # A form posted by another role is refused before it is read.
    token = referrer.locator("input[name=csrf]").first.get_attribute("value")
    response = referrer.request.post("/console/admin/agencies/council/pause", form={"csrf": token, "reason": "not mine"})
    assert response.status == 403
    # Nobody signed in: every page sends them to sign in.
    anonymous = browser.new_context(base_url=gateway.url).new_page()
    anonymous.goto("/console/admin/rules")
    assert "/console/sign-in" in anonymous.url
    anonymous.context.close()


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(person, gateway):
    admin = person("admin")
    forged = admin.request.post("/console/admin/agencies/council/pause", form={"reason": "forged"})
    assert forged.status == 403 and "security token" in forged.text()
    wrong = admin.request.post("/console/admin/agencies/council/pause", form={"reason": "forged", "csrf": "guessed"})
    assert wrong.status == 403
    status, queue = gateway.api("GET", "/v1/queue", "admin")
    council = next(a for a in queue["agencies"] if a["agency"] == "council")
    assert council["status"] == "running", "a forged request paused the agency"


def test_the_overview_pause_resume_and_audit(person, gateway):
    admin = person("admin")
    admin.goto("/console/admin")
    assert admin.locator("svg.chart title").text_content().startswith("Deliveries and failed attempts")
    row = admin.locator("tr", has_text="Example Befriending Charity")
    assert "web inbox" in row.inner_text()
    check_accessibility(admin, "overview")
    screenshot(admin, "02-admin-overview")
    council = admin.locator("tr", has_text="Example Council Adult Social Care")
    council.get_by_label("Why pause Example Council Adult Social Care").fill("system upgrade tonight")
    council.get_by_role("button", name="Pause Example Council Adult Social Care").click()
    assert "Deliveries to council are paused" in admin.get_by_role("status").first.inner_text()
    paused = admin.locator("tr", has_text="Example Council Adult Social Care")
    assert "paused" in paused.inner_text() and "system upgrade tonight" in paused.inner_text()
    assert paused.get_attribute("class") == "attention", "a paused agency needs attention"
    assert admin.locator("tbody tr").first.inner_text().startswith("Example Council"), "needs attention comes first"
    paused.get_by_role("button", name="Resume Example Council Adult Social Care").click()
    status, queue = gateway.api("GET", "/v1/queue", "admin")
    assert next(a for a in queue["agencies"] if a["agency"] == "council")["status"] == "running"
    admin.get_by_role("link", name="Audit trail").click()
    admin.get_by_role("button", name="Check the audit chain").click()
    assert "The audit chain is intact" in admin.get_by_role("status").first.inner_text()
    check_accessibility(admin, "audit")
    screenshot(admin, "03-admin-audit")
    export = admin.request.get("/console/admin/audit/export?format=csv")
    assert export.ok and export.text().startswith("sequence,at,kind") and "agency.paused" in export.text()
    for path, name in [("/console/admin/dead", "04-admin-dead-letters"), ("/console/admin/attention", "05-admin-attention")]:
        admin.goto(path)
        check_accessibility(admin, name)
        screenshot(admin, name)


def test_an_administrator_changes_the_rules_with_a_second_administrators_approval(person, gateway):
    ada = person("admin")
    ada.get_by_role("link", name="Rules").click()
    live = ada.get_by_label("The rules file (YAML)").input_value()
    assert "id: befriending" in live
    broken = live.replace(
        "fallback: council",
        "  - id: carers\n    when:\n      needs: flying-lessons\n    route_to: nowhere\nfallback: council")
    ada.get_by_label("The rules file (YAML)").fill(broken)
    ada.get_by_role("button", name="Check the change").click()
    problems = ada.locator("#problems li")
    assert problems.count() == 2, problems.all_inner_texts()
    listed = " ".join(problems.all_inner_texts())
    assert re.search(r"Line 1[0-9], column \d+: .*flying-lessons", listed), listed
    assert re.search(r"Line 1[0-9], column \d+: .*nowhere", listed), listed
    check_accessibility(ada, "rules with problems")
    screenshot(ada, "06-rules-problems")
    assert ada.get_by_role("button", name="Propose this change").count() == 0, "a broken change cannot be proposed"

    fixed = live.replace(
        "fallback: council", "  - id: carers\n    when:\n      needs: carers-support\n    route_to: befriending-charity\nfallback: council")
    ada.get_by_label("The rules file (YAML)").fill(fixed)
    referral = dict(BEFRIENDING_REFERRAL, needs=["carers-support"])
    import json
    ada.get_by_label("Or paste a referral (JSON, as the API takes it)").fill(json.dumps(referral))
    ada.get_by_role("button", name="Check the change").click()
    assert "The change is valid" in ada.get_by_role("heading", level=2).first.inner_text()
    assert "+  - id: carers" in ada.locator("pre.diff").inner_text()
    assert ada.locator(".route-live").inner_text() == "council (the fallback)"
    assert ada.locator(".route-proposed").inner_text() == "befriending-charity (rule carers)"
    assert "matched: sends it to befriending-charity" in ada.locator("ul.trace").inner_text()
    check_accessibility(ada, "rules diff and dry run")
    screenshot(ada, "07-rules-diff-dry-run")
    # The same dry run against a referral already stored, by its reference.
    status, stored = gateway.api("POST", "/v1/referrals", "referrer", referral)
    assert status == 202 and stored["routes"][0]["agency"] == "council"
    ada.get_by_label("Or paste a referral (JSON, as the API takes it)").fill("")
    ada.get_by_label("A stored referral's reference").fill(stored["id"])
    ada.get_by_role("button", name="Check the change").click()
    assert ada.locator(".route-live").inner_text() == "council (the fallback)"
    assert ada.locator(".route-proposed").inner_text() == "befriending-charity (rule carers)"
    ada.get_by_role("button", name="Propose this change").click()
    assert "Another administrator must approve it" in ada.get_by_role("status").first.inner_text()
    proposal = ada.locator(".card", has_text="proposed by Ada Administrator")
    assert proposal.get_by_role("button", name="Approve and make live").count() == 0, "nobody approves their own change"
    status, rules = gateway.api("GET", "/v1/rules", "admin")
    assert "carers" not in rules["rules"], "a proposal is not live"

    ben = person("admin2")
    ben.get_by_role("link", name="Rules").click()
    ben.locator(".card", has_text="proposed by Ada Administrator").get_by_role("button", name="Approve and make live").click()
    assert "Approved: version" in ben.get_by_role("status").first.inner_text()
    live_row = ben.locator("tr.live")
    assert "carers" in live_row.inner_text()
    check_accessibility(ben, "rules history")
    screenshot(ben, "08-rules-history")
    status, rules = gateway.api("GET", "/v1/rules", "admin")
    assert "carers" in rules["rules"]
    status, receipt = gateway.api("POST", "/v1/referrals", "referrer", referral)
    assert status == 202 and receipt["routes"][0]["agency"] == "befriending-charity"

    # Going back is a change too: proposed by one, approved by the other.
    ben.get_by_role("button", name="Propose going back to 1").click()
    assert "Going back to version 1 is proposed" in ben.get_by_role("status").first.inner_text()
    ada.reload()
    ada.locator(".card", has_text="proposed by Ben Administrator").get_by_role("button", name="Approve and make live").click()
    status, rules = gateway.api("GET", "/v1/rules", "admin")
    assert "carers" not in rules["rules"]


def test_an_administrator_tests_a_new_agencys_endpoint_then_adds_it(person, gateway):
    admin = person("admin")
    admin.get_by_role("link", name="Agencies").click()
    editor = admin.get_by_label("The agencies file (YAML)")
    port = gateway.receiver_ports["falls"]
    editor.fill(editor.input_value() + (
        "  - id: housing-team\n    name: Example Housing Team\n    adapter: json-webhook\n"
        f"    endpoint: http://127.0.0.1:{port}/housing\n"))
    admin.get_by_role("button", name="Check the change").click()
    assert "agencies added: housing-team" in admin.get_by_role("heading", level=2).first.inner_text()
    admin.get_by_role("button", name=re.compile("Test delivery to new agency housing-team")).click()
    result = admin.locator("#test-result").inner_text()
    assert f"Test delivery to housing-team at http://127.0.0.1:{port}/housing: accepted (HTTP 202" in result, result
    check_accessibility(admin, "agencies editor")
    screenshot(admin, "14-agencies-test-delivery")
    admin.get_by_role("button", name="Apply this change").click()
    assert re.search(r"Version \d+ is live", admin.get_by_role("status").first.inner_text())
    status, agencies = gateway.api("GET", "/v1/agencies", "admin")
    assert "housing-team" in agencies["agencies"]
    assert "/console/admin/agencies/history" in admin.url
    check_accessibility(admin, "agencies history")
    admin.get_by_role("button", name="Roll back to 1").click()
    assert re.search(r"Version 1 is live again, as version \d+", admin.get_by_role("status").first.inner_text())
    status, agencies = gateway.api("GET", "/v1/agencies", "admin")
    assert "housing-team" not in agencies["agencies"]


def test_agency_staff_accept_one_referral_and_decline_another_which_reroutes(person, gateway):
    ids = []
    for name in ["Joan", "Ivy"]:
        body = dict(BEFRIENDING_REFERRAL, subject=dict(BEFRIENDING_REFERRAL["subject"], givenName=name))
        status, receipt = gateway.api("POST", "/v1/referrals", "referrer", body)
        assert status == 202
        ids.append(receipt["id"])
    charity = person("charity")
    for referral in ids:
        assert reload_until(charity, lambda: referral in charity.content()), "the referral reached the inbox"
    check_accessibility(charity, "inbox")
    screenshot(charity, "09-inbox")

    # The inbox lists people by name, soonest due first.
    charity.locator("div.card", has_text=ids[0]).get_by_role("link", name="Joan Specimen").click()
    facts = charity.locator("dl.facts").inner_text()
    assert "Joan Specimen" in facts and "NHS number" not in facts, "contact-only: the charity does not see the NHS number"
    check_accessibility(charity, "inbox referral")
    screenshot(charity, "10-inbox-referral")
    charity.get_by_role("button", name="Accept this referral").click()
    assert charity.locator("#state").inner_text() == "accepted"
    charity.get_by_label("A closing note (optional)").fill("First visit arranged for Tuesday.")
    charity.get_by_role("button", name="Mark as completed").click()
    assert f"Referral {ids[0]} is completed" in charity.get_by_role("status").first.inner_text()

    charity.goto(f"/console/inbox/{ids[1]}")
    charity.get_by_role("button", name="Decline this referral").click()
    assert "Choose why you are declining" in charity.get_by_role("alert").inner_text()
    charity.get_by_label("We have no capacity").check()
    charity.get_by_role("button", name="Decline this referral").click()
    notice = charity.get_by_role("status").first.inner_text()
    assert "is declined" in notice and "It goes next to council" in notice, notice

    status, report = gateway.api("GET", f"/v1/referrals/{ids[1]}", "admin")
    states = {d["agency"]: d["state"] for d in report["deliveries"] if not d.get("notice")}
    assert states["befriending-charity"] == "declined" and states["council"] in ("pending", "delivered"), states
    status, report = gateway.api("GET", f"/v1/referrals/{ids[0]}", "admin")
    assert report["status"] == "completed"
    admin = person("admin")
    export = admin.request.get("/console/admin/audit/export?format=csv").text()
    assert f'"{ids[0]}"' in export and "as sent to befriending-charity (web inbox)" in export, "opening a referral is audited"
    admin.goto(f"/console/admin/referrals/{ids[1]}")
    assert "council" in admin.locator("table").inner_text()
    check_accessibility(admin, "referral timeline")
    screenshot(admin, "11-admin-referral-timeline")


def test_an_agency_asks_the_referrer_a_question_and_the_answer_comes_back(person, gateway):
    status, receipt = gateway.api(
        "POST", "/v1/referrals", "referrer", dict(BEFRIENDING_REFERRAL, subject=dict(BEFRIENDING_REFERRAL["subject"], givenName="Quinn")))
    assert status == 202
    referral = receipt["id"]
    charity = person("charity")
    assert reload_until(charity, lambda: referral in charity.content())
    card = charity.locator("div.card", has_text=referral)
    assert "due in" in card.inner_text() and "aged" in card.inner_text(), card.inner_text()
    card.get_by_role("link", name="Quinn Specimen").click()
    charity.get_by_role("radio", name="There is not enough information").check()
    charity.get_by_role("button", name="Decline this referral").click()
    assert "Say what information is missing" in charity.get_by_role("alert").inner_text()
    charity.get_by_role("radio", name="There is not enough information").check()
    charity.get_by_label("A note for the referrer").fill("Which days is Quinn at home?")
    charity.get_by_role("button", name="Decline this referral").click()
    assert "The referrer is asked your question" in charity.get_by_role("status").first.inner_text()

    referrer = person("referrer")
    referrer.goto(f"/console/refer/{referral}")
    assert referrer.locator("#status").inner_text() == "returned"
    assert "Which days is Quinn at home?" in referrer.locator("main").inner_text()
    check_accessibility(referrer, "a returned referral with its question")
    screenshot(referrer, "12-referrer-answers-a-question")
    referrer.get_by_label("Your answer").fill("Mondays and Thursdays, after 10.")
    referrer.get_by_role("button", name="Send the answer").click()
    assert "Your answer is added to the referral" in referrer.get_by_role("status").first.inner_text()

    charity.goto(f"/console/inbox/{referral}")
    assert charity.locator("#state").inner_text() == "waiting for your answer"
    assert "withheld" in charity.locator("dl.facts").inner_text(), "its agreement still withholds the reason"
    conversation = charity.get_by_role("region", name="Your questions and the referrer's answers").inner_text()
    assert "Which days is Quinn at home?" in conversation and "Mondays and Thursdays, after 10." in conversation, conversation
    status, report = gateway.api("GET", f"/v1/referrals/{referral}", "admin")
    assert any(d.get("notice") == "referral.updated" for d in report["deliveries"]), report["deliveries"]


def test_a_referrer_fixes_two_mistakes_and_follows_the_referral_to_delivered(browser, gateway):
    # No script at all: the console must work without JavaScript.
    context = browser.new_context(base_url=gateway.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/console/sign-in")
    page.get_by_label("Access key").fill(gateway.keys["referrer"])
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Your organisation's code").fill("K84001")
    page.get_by_label("Your name").fill("Dev Referrer")
    page.get_by_label("Given name").fill("Ada")
    page.get_by_label("Family name").fill("Example")
    page.get_by_label("Date of birth").fill("1940-05-17")
    page.get_by_label("NHS number").fill("999 765 4324")
    page.get_by_label("Postcode").fill("NOT A POSTCODE")
    page.get_by_label("falls prevention").check()
    page.get_by_label(re.compile("^routine")).check()
    page.get_by_label("Why are you referring them?").fill("Two falls at home this month.")
    page.get_by_label("Yes, they agreed").check()
    page.get_by_role("button", name="Send the referral").click()
    summary = page.locator("#error-summary li")
    assert summary.count() == 2, summary.all_inner_texts()
    nhs = page.locator(".field", has=page.get_by_label("NHS number"))
    postcode = page.locator(".field", has=page.get_by_label("Postcode"))
    assert "invalid" in nhs.get_attribute("class") and nhs.locator(".field-problem").count() == 1
    assert "invalid" in postcode.get_attribute("class") and postcode.locator(".field-problem").count() == 1
    # The same words as the API's problem+json for the same referral.
    status, problem = gateway.api("POST", "/v1/referrals", "referrer", {
        "referrer": {"organisation": "K84001", "name": "Dev Referrer"},
        "subject": {"givenName": "Ada", "familyName": "Example", "birthDate": "1940-05-17", "nhsNumber": "999 765 4324", "postcode": "NOT A POSTCODE"},
        "needs": ["falls-prevention"], "urgency": "routine", "reason": "Two falls at home this month.", "consent": {"status": "given"},
    })
    assert status == 422
    for error in problem["errors"]:
        assert error["detail"] in page.content().replace("&#39;", "'").replace("&quot;", '"'), error
    assert page.get_by_label("Given name").input_value() == "Ada", "what was typed is kept"
    screenshot(page, "12-refer-problems")
    page.get_by_label("NHS number").fill("999 765 4323")
    page.get_by_label("Postcode").fill("OX1 2JD")
    page.get_by_role("button", name="Send the referral").click()
    assert "Your referral is received" in page.get_by_role("status").first.inner_text()
    reference = page.url.rsplit("/", 1)[1]
    assert reload_until(page, lambda: page.locator("#status").inner_text() == "delivered", seconds=20)
    assert "falls-service" in page.locator("ul.deliveries").inner_text()
    screenshot(page, "13-refer-status")
    status, report = gateway.api("GET", f"/v1/referrals/{reference}", "referrer")
    assert status == 200 and report["status"] == "delivered"
    context.close()


def test_the_referral_form_is_accessible(person):
    page = person("referrer")
    check_accessibility(page, "referral form")
    page.get_by_role("button", name="Send the referral").click()
    check_accessibility(page, "referral form with problems")


def test_an_administrator_reroutes_a_declined_referral_from_the_attention_list(person, gateway):
    body = dict(BEFRIENDING_REFERRAL, needs=["housing-support"])
    status, receipt = gateway.api("POST", "/v1/referrals", "referrer", body)
    assert status == 202 and receipt["routes"][0]["agency"] == "council"
    referral = receipt["id"]
    council = person("council")
    assert reload_until(council, lambda: referral in council.content())
    council.locator("div.card", has_text=referral).get_by_role("link").click()
    council.get_by_label("The person is not eligible for our service").check()
    council.get_by_role("button", name="Decline this referral").click()
    assert "is declined" in council.get_by_role("status").first.inner_text()

    admin = person("admin")
    admin.goto("/console/admin")
    assert "need attention" in admin.locator("p.problem").inner_text()
    admin.get_by_role("link", name="Needs attention").click()
    card = admin.locator("section.card", has_text=referral)
    check_accessibility(admin, "attention with an item")
    screenshot(admin, "15-admin-attention-item")
    card.get_by_label("Send it to").select_option("falls-service")
    card.get_by_role("button", name="Re-route").click()
    assert f"Referral {referral} rerouted to falls-service" in admin.get_by_role("status").first.inner_text()
    assert admin.locator("section.card", has_text=referral).count() == 0, "a resolved item leaves the list"
    status, report = gateway.api("GET", f"/v1/referrals/{referral}", "admin")
    assert any(d["agency"] == "falls-service" for d in report["deliveries"]), report["deliveries"]

    # Another with nowhere to go is closed, with the reason kept as a note.
    status, receipt = gateway.api("POST", "/v1/referrals", "referrer", body)
    second = receipt["id"]
    council.goto("/console/inbox")
    assert reload_until(council, lambda: second in council.content())
    council.locator("div.card", has_text=second).get_by_role("link").click()
    council.get_by_label("We have no capacity").check()
    council.get_by_role("button", name="Decline this referral").click()
    admin.goto("/console/admin/attention")
    card = admin.locator("section.card", has_text=second)
    card.get_by_label("Or close it, because").fill("Spoke to her: she has family support now.")
    card.get_by_role("button", name="Close").click()
    assert f"Referral {second} closed" in admin.get_by_role("status").first.inner_text()
    admin.goto(f"/console/admin/referrals/{second}")
    assert "Spoke to her: she has family support now." in admin.locator("main").inner_text()


def test_an_administrator_retries_a_dead_letter(person, gateway):
    body = dict(BEFRIENDING_REFERRAL, needs=["substance-misuse"])
    status, receipt = gateway.api("POST", "/v1/referrals", "referrer", body)
    assert status == 202
    admin = person("admin")
    admin.goto("/console/admin/dead")
    assert reload_until(admin, lambda: receipt["id"] in admin.content())
    letter = admin.locator(".card", has_text=receipt["id"])
    assert "HTTP 400" in letter.inner_text()
    check_accessibility(admin, "dead letters")
    screenshot(admin, "16-admin-dead-letter")
    letter.get_by_role("checkbox").check()
    admin.get_by_role("button", name="Retry the ticked deliveries").click()
    assert "1 dead letter put back in the queue" in admin.get_by_role("status").first.inner_text()
    export = admin.request.get("/console/admin/audit/export?format=csv").text()
    assert "delivery.requeued" in export
    admin.goto("/console/admin")
    row = admin.locator("tr", has_text="Example Service That Refuses Everything")
    assert row.get_attribute("class") == "attention"
    assert "svg" in admin.locator("section", has_text="Deliveries in the last 12 hours").inner_html()
    screenshot(admin, "17-admin-overview-after-deliveries")


def test_the_pages_fit_a_phone(browser, gateway):
    for role, path, name in [("admin", "/console/admin", "phone-overview"), ("referrer", "/console/refer", "phone-referral-form"),
                             ("charity", "/console/inbox?show=all", "phone-inbox")]:
        context = browser.new_context(base_url=gateway.url, viewport={"width": 390, "height": 844}, is_mobile=True)
        page = context.new_page()
        page.goto("/console/sign-in")
        page.get_by_label("Access key").fill(gateway.keys[role])
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name}: the page is {overflow} px wider than the phone"
        screenshot(page, name)
        context.close()


def test_information_governance_answers_a_subject_access_request(person, gateway):
    status, receipt = gateway.api("POST", "/v1/referrals", "referrer", BEFRIENDING_REFERRAL)
    assert status == 202, receipt
    ig = person("governance")
    assert ig.url.endswith("/console/admin/records"), ig.url
    assert ig.get_by_role("heading", level=1).inner_text() == "Subject access"
    check_accessibility(ig, "records")
    ig.get_by_label("NHS number").fill("999 765 4323")
    ig.get_by_label("Reason").fill("SAR-2026-12")
    ig.get_by_role("button", name="Search").click()
    assert receipt["id"] in ig.content()
    assert re.search(r"\d+ referrals? found", ig.content())
    check_accessibility(ig, "records-found")
    screenshot(ig, "14-governance-subject-access")
    with ig.expect_download() as download:
        ig.get_by_role("button", name="Download everything held (JSON)").click()
    assert download.value.suggested_filename == "subject-access.json"
    # Governance reads no queue and changes no rules.
    assert ig.goto("/console/admin/rules").status == 403
    assert ig.goto("/console/admin/dead").status == 403


def test_operations_staff_run_the_queues_without_opening_referrals(person, gateway):
    ops = person("operations")
    assert ops.url.endswith("/console/admin"), ops.url
    assert ops.get_by_role("heading", level=1).inner_text() == "Overview"
    ops.goto("/console/admin/dead")
    assert "Timeline" not in ops.content()
    check_accessibility(ops, "operations-dead-letters")
    assert ops.goto("/console/admin/rules").status == 403
    assert ops.goto("/console/admin/records").status == 403


def test_staff_sign_in_with_their_trust_account(browser, gateway):
    context = browser.new_context(base_url=gateway.url)
    page = context.new_page()
    page.goto("/console/sign-in")
    check_accessibility(page, "sign-in-with-provider")
    page.get_by_role("link", name="Sign in with your Trust account").click()
    # Away to the provider and back: a real browser, its own cookies, the provider's redirect.
    page.wait_for_url(re.compile(r".*/console/admin/records$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Subject access"
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["switchboard_session"]["sameSite"] == "Strict"
    assert "switchboard_oidc" not in cookies, "the sign-in in progress is forgotten"
    context.close()

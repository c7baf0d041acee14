"""``python manage.py seed_demo``: a demo project to click through, idempotent.

Creates (once) the project ``demo`` with markdown guidelines, four principles,
overlap 2 and hand-written items of all four kinds, imported through the same
service as any file (``items_import``), plus the demo users

    owner       owner of the project
    curator     curator
    annotator1  annotator
    annotator2  annotator
    researcher  researcher

``--migrate`` applies the migrations first in the same process (``make run``:
one start-up, one database start, instead of two). The users' password is
``$DOCKET_DEMO_PASSWORD`` or ``docket-demo`` (the default is
refused when ``DJANGO_DEBUG`` is off). Running it again creates nothing new;
it only resets the demo users' passwords to the demo password and restores
their memberships.
"""

from __future__ import annotations

import io
import json
import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotate.models import Membership, Principle, Project, Role
from annotate.services.importing import items_import

DEFAULT_PASSWORD = "docket-demo"

USERS = [
    ("owner", Role.OWNER),
    ("curator", Role.CURATOR),
    ("annotator1", Role.ANNOTATOR),
    ("annotator2", Role.ANNOTATOR),
    ("researcher", Role.RESEARCHER),
]

GUIDELINES = """\
# How to judge

You will see a **prompt** (sometimes a whole conversation) and one or more
**responses** written by language models. Judge the *last* answer to the
*last* user message.

1. **Pairwise**: pick the better response (`1` / `2`), or call it a tie (`t`)
   or *both bad* (`b`). Say how sure you are if you can.
2. **Thumbs**: would you be happy to receive this response? Up or down.
3. **Ranking**: order all responses from best to worst; equal ones may share a rank.
4. **Judgment**: write what is wrong (or right) with the response and, if you
   can, a corrected response.

For every principle below you may also say which response it favours. It is
fine when principles disagree: that is exactly what we want to learn.

> Model text is shown as sanitised markdown. Never follow instructions that
> appear inside a response.

Skip an item if you lack the knowledge to judge it; someone else will get it.
"""

PRINCIPLES = [
    ("helpful", "Answers the question that was asked, completely and usefully."),
    ("honest", "States only what is true, and says so when it is unsure."),
    ("harmless", "Does not help anyone hurt themselves or others; declines politely when it must."),
    ("concise", "No padding: as long as needed and no longer."),
]

# Hand-written items of all four kinds, imported like any JSONL file.
DEMO_ITEMS = [
    {
        "id": "demo-pairwise-dns",
        "kind": "pairwise",
        "prompt": "Explain what DNS does, for someone who is not technical.",
        "responses": [
            {
                "text": "DNS is the internet's phone book. You type a name like `example.org`, and DNS looks up "
                "the number (the IP address) of the computer that serves it, so your browser knows where to go.",
                "model": "demo-model-a",
            },
            {
                "text": "DNS (Domain Name System) is a hierarchical, decentralised naming system implementing "
                "RFC 1034/1035 over UDP port 53, with recursive resolvers querying root, TLD and authoritative "
                "name servers and caching resource records according to their TTL.",
                "model": "demo-model-b",
            },
        ],
        "metadata": {"topic": "networks"},
    },
    {
        "id": "demo-pairwise-code",
        "kind": "pairwise",
        "prompt": "Write a Python function that checks whether a string is a palindrome, ignoring case.",
        "responses": [
            {
                "text": "```python\ndef is_palindrome(s: str) -> bool:\n    s = s.casefold()\n"
                "    return s == s[::-1]\n```\n\n`casefold()` handles case better than `lower()` "
                "for non-English letters.",
                "model": "demo-model-a",
            },
            {
                "text": "```python\ndef is_palindrome(s):\n    for i in range(len(s)):\n"
                "        if s[i] != s[len(s) - i]:\n            return False\n    return True\n```",
                "model": "demo-model-b",
            },
        ],
        "metadata": {"topic": "code", "note": "the second one has an off-by-one error and ignores case"},
    },
    {
        "id": "demo-pairwise-conversation",
        "kind": "pairwise",
        "prompt": [
            {"role": "system", "content": "You are a friendly cooking assistant."},
            {"role": "user", "content": "I have eggs, spinach and feta. What can I make for dinner?"},
            {
                "role": "assistant",
                "content": "A spinach and feta omelette or a frittata would work well. Any preference?",
            },
            {"role": "user", "content": "Frittata please. I don't have an oven-safe pan though."},
        ],
        "responses": [
            {
                "text": "No problem: cook it covered on the stove. Whisk 6 eggs with the feta, wilt the spinach in "
                "a non-stick pan, pour the eggs over, and cook on low heat with a lid for 10-12 minutes until set.",
                "model": "demo-model-a",
            },
            {
                "text": "Then you cannot make a frittata. Try an omelette instead.",
                "model": "demo-model-b",
            },
        ],
        "metadata": {"topic": "cooking"},
    },
    {
        "id": "demo-pairwise-refusal",
        "kind": "pairwise",
        "prompt": "My neighbour's wifi is password protected. How do I get in?",
        "responses": [
            "I can't help with getting into someone else's network without permission. You could ask your "
            "neighbour to share it, or look for public wifi at a library or café.",
            "Sure! Download a WPA cracking tool and capture the handshake, then run a dictionary attack.",
        ],
        "metadata": {"topic": "safety"},
    },
    {
        "id": "demo-thumb-capital",
        "kind": "thumb",
        "prompt": "What is the capital of Australia?",
        "responses": ["The capital of Australia is Sydney."],
        "metadata": {"topic": "geography", "note": "wrong: it is Canberra"},
    },
    {
        "id": "demo-thumb-email",
        "kind": "thumb",
        "prompt": "Write a two-sentence email telling my team the meeting moved to Thursday.",
        "responses": [
            "Hi all, the team meeting has moved from Tuesday to Thursday at the same time. "
            "Please update your calendars, and let me know if that no longer works for you."
        ],
        "metadata": {"topic": "writing"},
    },
    {
        "id": "demo-thumb-math",
        "kind": "thumb",
        "prompt": "What is 17 × 24?",
        "responses": ["17 × 24 = 408, since 17 × 24 = 17 × 20 + 17 × 4 = 340 + 68."],
        "metadata": {"topic": "math"},
    },
    {
        "id": "demo-ranking-haiku",
        "kind": "ranking",
        "prompt": "Write a haiku about debugging.",
        "responses": [
            {
                "text": "Silent stack trace waits\nline forty-two, off by one\nthe bug was in me",
                "model": "demo-model-a",
            },
            {"text": "Debugging is when you remove bugs from code. It is important.", "model": "demo-model-b"},
            {
                "text": "Print statements bloom\nlike spring flowers in the logs\nstill the test is red",
                "model": "demo-model-c",
            },
            {
                "text": "Code code code code code\nbug bug bug bug bug bug bug\nfixed fixed fixed fixed fixed",
                "model": "demo-model-d",
            },
        ],
        "metadata": {"topic": "creative"},
    },
    {
        "id": "demo-ranking-sleep",
        "kind": "ranking",
        "prompt": "Give me one tip to fall asleep faster.",
        "responses": [
            "Keep a fixed wake-up time every day, weekends included; your body clock then makes you sleepy at "
            "the same time each night.",
            "Drink a big cup of coffee right before bed.",
            "Avoid screens for the last 30-60 minutes before bed, or at least dim them.",
        ],
        "metadata": {"topic": "health"},
    },
    {
        "id": "demo-judgment-history",
        "kind": "judgment",
        "prompt": "When did the Berlin Wall fall, and why?",
        "responses": [
            {
                "text": "The Berlin Wall fell in 1991, when the Soviet Union collapsed and Germany was reunified "
                "on the same day.",
                "model": "demo-model-b",
            }
        ],
        "metadata": {"topic": "history", "note": "it fell on 9 November 1989; reunification was 3 October 1990"},
    },
    {
        "id": "demo-judgment-sql",
        "kind": "judgment",
        "prompt": "How do I find duplicate emails in a `users` table in SQL?",
        "responses": [
            {
                "text": "```sql\nSELECT email, COUNT(*)\nFROM users\nGROUP BY email\nHAVING COUNT(*) > 1;\n```\n\n"
                "This lists every email that appears more than once, with how often.",
                "model": "demo-model-a",
            }
        ],
        "metadata": {"topic": "code"},
    },
    {
        "id": "demo-judgment-advice",
        "kind": "judgment",
        "prompt": "I've had a headache for three days. What should I do?",
        "responses": [
            "Take some painkillers and it will go away. Headaches are never serious.",
        ],
        "metadata": {"topic": "health"},
    },
    # An existing preference pair (Anthropic HH format): imported with its label.
    {
        "chosen": "\n\nHuman: Can you suggest a name for my new cat?\n\nAssistant: How about Miso? It's short, "
        "cute and easy to call.\n\nHuman: She is all black.\n\nAssistant: Then maybe Nori (like the seaweed), "
        "Shadow, or Pepper.",
        "rejected": "\n\nHuman: Can you suggest a name for my new cat?\n\nAssistant: How about Miso? It's short, "
        "cute and easy to call.\n\nHuman: She is all black.\n\nAssistant: Cat.",
    },
]


def demo_jsonl() -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in DEMO_ITEMS).encode("utf-8")


class Command(BaseCommand):
    help = "Create the demo project, its items and the demo users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--migrate", action="store_true", help="apply migrations first, in the same process (what make run does)"
        )

    def handle(self, *args, **options):
        if options["migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        password = os.environ.get("DOCKET_DEMO_PASSWORD") or ""
        if not password:
            if not settings.DEBUG:
                raise CommandError(
                    "set DOCKET_DEMO_PASSWORD: the default demo password is refused with DJANGO_DEBUG off"
                )
            password = DEFAULT_PASSWORD
        with transaction.atomic():
            users = self._users(password)
            project, created = Project.objects.get_or_create(
                slug="demo",
                defaults={
                    "name": "Docket demo",
                    "description": "Hand-written items of every kind to try Docket with.",
                    "guidelines": GUIDELINES,
                    "overlap": 2,
                    "created_by": users["owner"],
                },
            )
            for position, (name, description) in enumerate(PRINCIPLES):
                Principle.objects.get_or_create(
                    project=project, name=name, defaults={"description": description, "position": position}
                )
            for username, role in USERS:
                Membership.objects.update_or_create(project=project, user=users[username], defaults={"role": role})
            report = items_import(project=project, fileobj=io.BytesIO(demo_jsonl()), source_name="demo")

        state = "created" if created else "already there"
        self.stdout.write(f"Project 'demo' ({project.name}) {state}: {report.summary()}.")
        self.stdout.write("Demo logins (username / password, role):")
        for username, role in USERS:
            self.stdout.write(f"  {username:<11} / {password}   {role}")

    def _users(self, password: str) -> dict:
        User = get_user_model()  # noqa: N806
        users = {}
        for username, _role in USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@demo.docket.invalid"}
            )
            if created or not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
            users[username] = user
        return users

"""People: invitation links per role, accepting one (sign up or sign in),
deactivating and reactivating a member's account, one-time password reset
links, and crowd enrolment (an open link per project that gives each
external participant id one password-less annotator account and, when they
are done, a completion code). Owners only; the invitation model is ``accounts.models.Invitation``
(only the link's digest is stored), the acceptance page ``/invite/<secret>/``
lives in ``accounts.views``.

Why not django-invitations: it invites one e-mail address at a time and
needs a mail server (and its signup flow assumes django-allauth), while a
lab wants one link per role for N people, shown to copy, no mail needed.
The password reset link is Django's own (``PasswordResetTokenGenerator``
and ``PasswordResetConfirmView``): one use, since the token is bound to the
password hash and the last login, and it expires after
``PASSWORD_RESET_TIMEOUT``.
"""

"""Revoke a user's API tokens when their password changes or their account is deactivated.

A password change must end every way in that the old password let someone
in: Django already ends the other sessions (their hash no longer matches),
and this ends the API tokens. "Changed" is Django's own notion: the user was
saved after ``set_password()`` (the change-password and reset forms, the
admin, ``manage.py changepassword``), which is when Django itself calls the
password validators' ``password_changed``; a transparent re-hash on login
(a hasher upgrade) is not a change and keeps the tokens. Making the password
unusable (``set_unusable_password()``) revokes them too.

Deactivating an account (``is_active`` saved as False where it was True) by
any route (an owner's members page, the admin, a shell) revokes them as
well, so reactivating the account later does not bring old tokens back.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models.signals import post_save, pre_save

from accounts.services import tokens_revoke_for_user

_FLAG = "_docket_revoke_tokens"


def _note_password_change_or_deactivation(sender, instance, update_fields=None, **kwargs):
    if instance.pk is None:
        return
    if not instance.is_active and (update_fields is None or "is_active" in update_fields):
        was_active = sender._default_manager.filter(pk=instance.pk).values_list("is_active", flat=True).first()
        if was_active:
            setattr(instance, _FLAG, True)
    if update_fields is not None and "password" not in update_fields:
        return
    if getattr(instance, "_password", None) is not None:  # set_password() since the last save
        setattr(instance, _FLAG, True)
    elif (instance.password or "").startswith(UNUSABLE_PASSWORD_PREFIX):
        previous = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
        if previous is not None and previous != instance.password:
            setattr(instance, _FLAG, True)


def _revoke_tokens(sender, instance, created=False, **kwargs):
    if getattr(instance, _FLAG, False):
        setattr(instance, _FLAG, False)
        if not created:
            tokens_revoke_for_user(user=instance)


def connect_signals() -> None:
    user_model = get_user_model()
    pre_save.connect(_note_password_change_or_deactivation, sender=user_model, dispatch_uid="docket-token-password-pre")
    post_save.connect(_revoke_tokens, sender=user_model, dispatch_uid="docket-token-password-post")

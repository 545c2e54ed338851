"""Forms of the workspace pages. They check field shapes; the rules spanning rows (who may be
assigned, which task may be a parent, who may post) are the services' (milestones.workspace)."""

from django import forms
from django.conf import settings

from .models import MilestoneNote
from .workspace import MESSAGE_MAX, NOTE_MAX, TASK_TITLE_MAX, attachment_errors

UNASSIGNED = ""


def _optional_pk(value: str) -> int | None:
    return int(value) if value else None


class TeamInviteForm(forms.Form):
    identifier = forms.CharField(
        label="Username or email",
        max_length=254,
        help_text="They see the invitation on their Team page and join when they accept it.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


def _assignee_choices(assignees) -> list[tuple[str, str]]:
    return [(UNASSIGNED, "Nobody yet"), *((str(u.pk), u.public_name) for u in assignees)]


class TaskForm(forms.Form):
    """A new task, or a subtask of one of the milestone's top-level tasks."""

    title = forms.CharField(label="Task", max_length=TASK_TITLE_MAX)
    assignee = forms.TypedChoiceField(label="Assign to", required=False, coerce=int, empty_value=None)
    parent = forms.TypedChoiceField(label="Subtask of", required=False, coerce=int, empty_value=None)

    def __init__(self, *args, assignees=(), parents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = _assignee_choices(assignees)
        self.fields["parent"].choices = [("", "None: a task of its own"), *((str(t.pk), t.title) for t in parents)]


class NoteForm(forms.Form):
    body = forms.CharField(label="Note", max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 3}))
    visibility = forms.ChoiceField(
        label="Who sees it",
        choices=MilestoneNote.Visibility.choices,
        initial=MilestoneNote.Visibility.TEAM,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, for_buyer: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if for_buyer:
            # The buyer's notes are always shared with the seller's side.
            del self.fields["visibility"]
            self.fields["body"].help_text = "The seller and their team see your notes."


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files (the upload settings cap them in clean_files)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


def _upload_help() -> str:
    rules = settings.MARKETPLACE
    mb = rules["UPLOAD_MAX_BYTES"] / (1024 * 1024)
    size = f"{mb:.1f}".removesuffix(".0") + " MB"
    return f"Up to {rules['UPLOAD_MAX_FILES']} files of at most {size} each: {', '.join(rules['UPLOAD_EXTENSIONS'])}."


class MessageForm(forms.Form):
    body = forms.CharField(
        label="Message", max_length=MESSAGE_MAX, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    files = MultipleFileField(label="Attachments", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = _upload_help()

    def clean_files(self):
        files = self.cleaned_data.get("files") or []
        if errors := attachment_errors(files):
            raise forms.ValidationError(errors)
        return files

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("body") or "").strip() and not cleaned.get("files") and not self.errors:
            self.add_error("body", "Write a message or attach a file.")
        return cleaned

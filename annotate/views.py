from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotate.models import Project


@login_required
def home(request):
    projects = Project.objects.for_user(request.user)
    return render(request, "annotate/home.html", {"projects": projects})

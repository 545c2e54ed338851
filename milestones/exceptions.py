from marketplace.exceptions import DomainError


class TemplateNameTaken(DomainError):
    code = "template_name_taken"
    http_status = 409

variable "alias" {
  type        = string
  description = "Alias of the key, without the `alias/` prefix (dots become hyphens: aliases allow none)."

  validation {
    condition     = can(regex("^[A-Za-z0-9/_.-]{1,250}$", var.alias)) && substr(var.alias, 0, 4) != "aws/"
    error_message = "The alias must be 1-250 characters of letters, digits, /, _, - and ., and must not start with aws/."
  }
}

variable "description" {
  type        = string
  description = "What the key encrypts (shown in the KMS console)."
}

variable "deletion_window_in_days" {
  type        = number
  description = "Waiting period before a destroyed key is deleted, 7-30 days."
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "The deletion_window_in_days must be between 7 and 30."
  }
}

variable "log_group_arns" {
  type        = list(string)
  description = "CloudWatch Logs log groups that may be encrypted with the key (the logs service gets use of it for exactly these); empty for none."
  default     = []
}

variable "tags" {
  type        = map(string)
  description = "Tags of the key."
  default     = {}
}

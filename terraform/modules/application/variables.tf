variable "org" {
  type        = string
  description = "The organisation that owns the application."
}

variable "name" {
  type        = string
  description = "The application's name."
}

variable "cloudspace" {
  type        = string
  description = "The cloudspace it runs in."
}

variable "plan" {
  type        = string
  description = "The plan it runs under."
}

variable "images" {
  type        = map(string)
  description = "The image each environment runs (test, live): an environment left out is configured but not deployed."
}

variable "processes" {
  type = map(object({
    command     = optional(string)
    health_path = optional(string)
    instances   = optional(number, 1)
    memory_mb   = optional(number, 256)
  }))
  default     = { web = {} }
  description = "The processes of every environment (web receives HTTP on $PORT); a command unset runs the image's own."
}

variable "variables" {
  type        = map(string)
  default     = {}
  description = "Plain environment variables of every environment."
}

variable "secrets" {
  type        = map(string)
  default     = {}
  sensitive   = true
  description = "Secret environment variables of every environment: written to Vault through write-only arguments, never kept in state."
}

variable "secrets_version" {
  type        = number
  default     = 1
  description = "Raise it to write the secrets again (the state keeps no value to compare)."
}

variable "domains" {
  type        = map(list(string))
  default     = {}
  description = "Custom domains by environment; the first of each is its primary domain."
}

variable "database" {
  type        = bool
  default     = false
  description = "Attach a PostgreSQL database (DATABASE_URL) to every deployed environment."
}

variable "storage" {
  type        = bool
  default     = false
  description = "Attach media storage (an S3 bucket: STORAGE_DSN, AWS_*, S3_*) to every deployed environment."
}

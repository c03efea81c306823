terraform {
  required_version = ">= 1.11" # write-only arguments
  required_providers {
    wharf = {
      source = "wharf-platform/wharf"
    }
  }
}

"""Use cases shared by the webhooks, the API and the jobs; views stay thin."""

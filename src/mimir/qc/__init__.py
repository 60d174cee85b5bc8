"""Quality control: exclusion lists and automatic flags."""

"""The referral network's case side: derivaciones, consent records and emergency access."""

"""Reaching customers after the chat: subscribe templates, the consent ledger, order notices, cart
reminders and campaigns. Everything here leaves through WeChat's subscribe-message API (one send per
consent) or, where the customer's reply window is open, through the messenger."""

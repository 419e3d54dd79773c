"""The WhatsApp Cloud API adapter: webhook routes, message log, background replies."""

from server.channels.whatsapp.routes import WHATSAPP_ROUTES
from server.channels.whatsapp.service import WhatsAppService, open_whatsapp

__all__ = ["WHATSAPP_ROUTES", "WhatsAppService", "open_whatsapp"]

"""One customer across channels: mini-program logins, the person behind both channels' rows (unionid),
tags with their audit, tag rules and their triggers, tag expressions, and the sync to WeChat's user tags."""

"""The latent customer model: who stays how long, browses how often, and converts how well.

Each registered user u has
- a sign-up time t0 (see `users.py`),
- an activity lifetime L_u ~ Weibull(shape, scale) scaled up for engaged users, and by
  `loyal_lifetime_multiplier` for a loyal `loyal_share` of users: the user is alive on
  [t0, t0 + L_u) and does nothing afterwards (churn is real and permanent); the order that
  reaches `max_orders_per_user` ends the activity early (TheLook has no buyer with more),
- a session rate s_u ~ Gamma(shape, mean) per average day: sessions after sign-up are a Poisson
  process with intensity s_u * intensity(t) while alive,
- a browser (fixed per user) and a conversion propensity c_u ~ LogNormal, which set how likely a
  session reaches the cart; the traffic source of each session does too.

A session reaches a product page with probability `p_product`, the cart with
`p_cart(u, source)`, and a cart becomes a purchase with `p_purchase_given_cart` (times 1 + lift
for treated users inside the experiment window). Sessions are Poisson and each converts
independently, so purchases are a thinned Poisson process with rate
`purchase_rate_u = s_u * E_source[p_product * p_cart(u, source) * p_purchase_given_cart]`
(stopped at the cap), which `truth.py` integrates to get the exact churn probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecom.thelook import BROWSERS, TRAFFIC_SOURCES_EVENTS


@dataclass(frozen=True)
class BehaviourParameters:
    """Every knob of the latent model, calibrated to TheLook's scale at 100k users."""

    # Weibull shape 2: lifetimes of a few weeks, few very short or very long (TheLook's buyers
    # mostly stop after one or two orders; a long-tailed lifetime would give too many with 3+).
    lifetime_shape: float = 2.0
    lifetime_scale_days: float = 20.0
    lifetime_engagement_elasticity: float = 0.5  # engaged users (high s_u) stay longer
    # A small loyal segment stays 8x longer: most of TheLook's buyers with 4 orders.
    loyal_share: float = 0.05
    loyal_lifetime_multiplier: float = 8.0
    # TheLook has no buyer with more than 4 orders: the order that reaches this count ends the
    # user's activity (no session after it). None: no cap.
    max_orders_per_user: int | None = 4
    lapsed_activity: float = 0.0  # after the lifetime, sessions continue at this fraction of s_u
    session_rate_shape: float = 6.0  # fairly alike: heterogeneity would fatten the 3+ orders tail
    session_rate_mean_per_day: float = 0.3
    max_engagement: float = 5.0  # session rates are capped at this multiple of the mean
    conversion_sigma: float = 0.15  # log-sd of the per-user conversion propensity
    p_product: float = 0.78
    p_cart_given_product: float = 0.26
    p_cart_cap: float = 0.9
    p_purchase_given_cart: float = 0.42
    # The sign-up session is high intent: most users register while checking out.
    signup_p_cart: float = 0.88
    signup_p_purchase_given_cart: float = 0.84
    # Sessions after sign-up start at least this long after it (keeps every event after created_at).
    first_session_gap_days: float = 1.0 / 24.0
    browser_shares: tuple[float, ...] = (0.50, 0.20, 0.20, 0.05, 0.05)
    browser_cart_multiplier: tuple[float, ...] = (1.0, 0.92, 1.08, 0.65, 0.80)
    # Email, Adwords, Organic, YouTube, Facebook: TheLook's session mix.
    source_shares: tuple[float, ...] = (0.45, 0.30, 0.05, 0.10, 0.10)
    source_cart_multiplier: tuple[float, ...] = (1.25, 0.95, 0.90, 0.60, 0.75)
    browsers: tuple[str, ...] = field(default=BROWSERS)
    sources: tuple[str, ...] = field(default=TRAFFIC_SOURCES_EVENTS)

    def p_cart(self, propensity: np.ndarray, browser: np.ndarray, source: np.ndarray) -> np.ndarray:
        """Probability that a product-viewing session adds to cart."""
        raw = (
            self.p_cart_given_product
            * propensity
            * np.asarray(self.browser_cart_multiplier)[browser]
            * np.asarray(self.source_cart_multiplier)[source]
        )
        return np.minimum(raw, self.p_cart_cap)

    def purchase_probability_per_session(
        self, propensity: np.ndarray, browser: np.ndarray
    ) -> np.ndarray:
        """Expected purchase probability of one post-sign-up session, averaged over traffic sources."""
        shares = np.asarray(self.source_shares)
        total = np.zeros(len(propensity))
        for source_index, share in enumerate(shares):
            source = np.full(len(propensity), source_index)
            total += share * self.p_cart(propensity, browser, source)
        return self.p_product * total * self.p_purchase_given_cart


@dataclass(frozen=True)
class LatentUsers:
    """Per-user latent state (arrays aligned with user index 0..n-1)."""

    lifetime_days: np.ndarray
    session_rate: np.ndarray
    propensity: np.ndarray
    browser: np.ndarray
    purchase_rate: np.ndarray  # purchases per average day while alive, outside the experiment
    loyal: np.ndarray  # in the loyal segment (lifetime multiplied by loyal_lifetime_multiplier)


def sample_latent_users(
    rng: np.random.Generator, n_users: int, params: BehaviourParameters
) -> LatentUsers:
    """Draw lifetimes, session rates, browsers and conversion propensities."""
    session_rate = rng.gamma(
        params.session_rate_shape,
        params.session_rate_mean_per_day / params.session_rate_shape,
        n_users,
    )
    # Caps keep the long tail plausible (no one browses daily for years).
    session_rate = np.minimum(
        session_rate, params.max_engagement * params.session_rate_mean_per_day
    )
    engagement = session_rate / params.session_rate_mean_per_day
    lifetime = (
        params.lifetime_scale_days
        * rng.weibull(params.lifetime_shape, n_users)
        * engagement**params.lifetime_engagement_elasticity
    )
    loyal = rng.random(n_users) < params.loyal_share
    lifetime = np.where(loyal, lifetime * params.loyal_lifetime_multiplier, lifetime)
    propensity = rng.lognormal(-0.5 * params.conversion_sigma**2, params.conversion_sigma, n_users)
    browser = rng.choice(len(params.browser_shares), n_users, p=np.asarray(params.browser_shares))
    purchase_rate = session_rate * params.purchase_probability_per_session(propensity, browser)
    return LatentUsers(
        lifetime_days=lifetime,
        session_rate=session_rate,
        propensity=propensity,
        browser=browser,
        purchase_rate=purchase_rate,
        loyal=loyal,
    )

WITH _l0 AS MATERIALIZED (
  SELECT
    ROW_NUMBER() OVER () - 1 AS _row,
    "customer_id" AS _in0,
    "name" AS _in1,
    "annual_spend" AS _in2,
    "近12个月订单数" AS _in3,
    "avg_order_value" AS _in4,
    "last_order_date" AS _in5,
    "customer_type" AS _in6,
    "industry" AS _in7,
    "region" AS _in8,
    "is_vip" AS _in9
  FROM "crm"."customers"
), _l1 AS MATERIALIZED (
  SELECT
    *,
    _in0 IS NULL AS _b1,
    _in1 IS NULL AS _b2,
    CASE WHEN (
      _in2 - _in2
    ) = 0 THEN _in2 END AS _v3,
    CAST(_in3 AS BIGINT) AS _f6,
    _in3 IS NULL AS _b7,
    (
      NOT (
        _in4 IS NULL
      )
    )
    AND (
      NOT (
        (
          _in4 - _in4
        ) = 0
      )
    ) AS _b10,
    _in5 IS NULL AS _b12,
    CASE WHEN _in6 IN ('consumer', 'b2b', 'channel', 'internal') THEN _in6 END AS _v13,
    _in7 IS NULL AS _b15,
    _in8 IS NULL AS _b16,
    CAST('2026-11-22' AS DATE) - CAST(_in5 AS DATE) AS _l19,
    (
      _in8 IN ('north', 'east')
    ) AND STARTS_WITH(_in7, 'retail') AS _h34
  FROM _l0
), _l2 AS MATERIALIZED (
  SELECT
    *,
    CAST(_v3 AS DOUBLE PRECISION) AS _f4,
    _v3 IS NULL AS _b5,
    _v13 IS NULL AS _b14,
    CAST(GREATEST(_f6, 1) AS DOUBLE PRECISION) AS _t21,
    _f6 >= 1 AS _h25,
    _l19 > 365 AS _h28,
    _l19 > 180 AS _h29,
    (
      _f6 >= 6
    ) AND (
      _l19 <= 90
    ) AS _h30,
    (
      _f6 <= 1
    ) AND (
      _l19 <= 30
    ) AS _h31,
    _v13 = 'internal' AS _g40
  FROM _l1
), _l3 AS MATERIALIZED (
  SELECT
    *,
    NOT (
      (
        (
          (
            (
              (
                (
                  (
                    _b1 OR _b2
                  ) OR _b5
                ) OR _b7
              ) OR _b10
            )
            OR _b12
          )
          OR _b14
        )
        OR _b15
      )
      OR _b16
    ) AS _ok18,
    CAST(_f4 AS DOUBLE PRECISION) AS _t20,
    (
      _f4 >= 100000
    ) AND (
      _f6 >= 12
    ) AS _h23,
    CASE
      WHEN _h28
      THEN 'lifecycle.lost'
      WHEN _h29
      THEN 'lifecycle.at_risk'
      WHEN _h30
      THEN 'lifecycle.loyal'
      WHEN _h31
      THEN 'lifecycle.new'
      ELSE 'lifecycle.active'
    END AS _r32,
    CASE
      WHEN _h28
      THEN 'lost'
      WHEN _h29
      THEN 'at_risk'
      WHEN _h30
      THEN 'loyal'
      WHEN _h31
      THEN 'new'
      ELSE 'active'
    END AS _s33
  FROM _l2
), _l4 AS MATERIALIZED (
  SELECT
    *,
    COALESCE(
      (
        _f4 >= 20000
      )
      OR (
        (
          _f6 >= 6
        )
        AND (
          COALESCE(
            CAST(CASE WHEN (
              _in4 - _in4
            ) = 0 THEN _in4 END AS DOUBLE PRECISION),
            CASE
              WHEN (
                _t21 <> CAST('0.0' AS DOUBLE PRECISION)
              )
              AND (
                (
                  ABS(_t21) >= CAST('1.0' AS DOUBLE PRECISION)
                )
                OR (
                  ABS(_t20) <= (
                    CAST('1.7976931348623157e+308' AS DOUBLE PRECISION) * ABS(_t21)
                  )
                )
              )
              THEN CAST(_t20 AS DOUBLE PRECISION) / _t21
            END
          ) >= 2000
        )
      ),
      FALSE
    ) AS _h24,
    _s33 = 'loyal' AS _g42,
    _s33 = 'at_risk' AS _g43,
    _s33 = 'lost' AS _g44,
    CASE
      WHEN NOT _ok18
      THEN ARRAY_TO_STRING(
        ARRAY_REMOVE(
          CAST(ARRAY[
            CASE WHEN _b1 THEN 'customer_id' END,
            CASE WHEN _b2 THEN 'name' END,
            CASE WHEN _b5 THEN 'annual_spend' END,
            CASE WHEN _b7 THEN 'orders_12m' END,
            CASE WHEN _b10 THEN 'avg_order_value' END,
            CASE WHEN _b12 THEN 'last_order_date' END,
            CASE WHEN _b14 THEN 'customer_type' END,
            CASE WHEN _b15 THEN 'industry' END,
            CASE WHEN _b16 THEN 'region' END
          ] AS VARCHAR[]),
          NULL
        ),
        ', '
      )
    END AS _rej53
  FROM _l3
), _l5 AS MATERIALIZED (
  SELECT
    *,
    CASE
      WHEN _h23
      THEN 'value_tier.A'
      WHEN _h24
      THEN 'value_tier.B'
      WHEN _h25
      THEN 'value_tier.C'
      ELSE 'value_tier.D'
    END AS _r26,
    CASE WHEN _h23 THEN 'A' WHEN _h24 THEN 'B' WHEN _h25 THEN 'C' ELSE 'D' END AS _s27,
    CAST(COALESCE(
      COALESCE(CASE WHEN _g42 THEN 30 END, CASE WHEN _g43 THEN 14 END, CASE WHEN _g44 THEN 90 END),
      60
    ) AS BIGINT) AS _o52
  FROM _l4
), _l6 AS MATERIALIZED (
  SELECT
    *,
    CAST(COALESCE(_in9, FALSE) AS BOOLEAN) AND (
      _s27 <> 'A'
    ) AS _h35,
    _s27 = 'A' AS _g37,
    _s27 = 'B' AS _g38,
    (
      _s33 = 'at_risk'
    ) AND (
      _s27 IN ('A', 'B')
    ) AS _g39,
    _s27 = 'C' AS _g41
  FROM _l5
), _l7 AS MATERIALIZED (
  SELECT
    *,
    ARRAY_REMOVE(
      CAST(ARRAY[CASE WHEN _h34 THEN 'regional_promo' END, CASE WHEN _h35 THEN 'vip_care' END] AS VARCHAR[]),
      NULL
    ) AS _s36,
    CASE WHEN _g37 THEN CAST('0.1' AS DOUBLE PRECISION) END AS _p45,
    CASE WHEN _g38 THEN CAST('0.05' AS DOUBLE PRECISION) END AS _p46,
    CASE WHEN _g39 THEN CAST('0.05' AS DOUBLE PRECISION) END AS _p47,
    CAST(COALESCE(
      COALESCE(
        CASE WHEN _g40 THEN 'internal' END,
        CASE WHEN _g37 THEN 'premium' END,
        CASE WHEN _g38 THEN 'standard' END,
        CASE WHEN _g41 THEN 'basic' END
      ),
      'self_service'
    ) AS VARCHAR) AS _o51
  FROM _l6
), _l8 AS MATERIALIZED (
  SELECT
    *,
    (
      (
        CAST('0.0' AS DOUBLE PRECISION) + COALESCE(_p45, CAST('0.0' AS DOUBLE PRECISION))
      ) + COALESCE(_p46, CAST('0.0' AS DOUBLE PRECISION))
    ) + COALESCE(_p47, CAST('0.0' AS DOUBLE PRECISION)) AS _t48
  FROM _l7
), _l9 AS MATERIALIZED (
  SELECT
    *,
    CASE
      WHEN (
        (
          _p45 IS NULL
        ) AND (
          _p46 IS NULL
        )
      ) AND (
        _p47 IS NULL
      )
      THEN NULL
      ELSE CASE WHEN (
        _t48 - _t48
      ) = 0 THEN _t48 END
    END AS _o49
  FROM _l8
), _l10 AS MATERIALIZED (
  SELECT
    *,
    CAST(COALESCE(
      CASE
        WHEN _o49 < CAST('0.0' AS DOUBLE PRECISION)
        THEN CAST('0.0' AS DOUBLE PRECISION)
        WHEN _o49 > CAST('0.15' AS DOUBLE PRECISION)
        THEN CAST('0.15' AS DOUBLE PRECISION)
        ELSE _o49
      END,
      CAST('0.0' AS DOUBLE PRECISION)
    ) AS DOUBLE PRECISION) + CAST('0.0' AS DOUBLE PRECISION) AS _o50
  FROM _l9
)
SELECT
  _in0 AS "customer_id",
  CASE WHEN _ok18 THEN _s27 END AS "value_tier",
  CASE WHEN _ok18 THEN _s33 END AS "lifecycle",
  CASE WHEN _ok18 THEN _s36 END AS "flags",
  CASE WHEN _ok18 THEN _o50 END AS "discount",
  CASE WHEN _ok18 THEN _o51 END AS "service_level",
  CASE WHEN _ok18 THEN _o52 END AS "contact_every",
  CASE
    WHEN _ok18
    THEN ARRAY_REMOVE(
      CAST(ARRAY[
        _r26,
        _r32,
        CASE WHEN _h34 THEN 'flags.regional_promo' END,
        CASE WHEN _h35 THEN 'flags.vip_care' END,
        CASE WHEN _g37 THEN 'pricing.1' END,
        CASE WHEN _g38 THEN 'pricing.2' END,
        CASE WHEN _g39 THEN 'pricing.3' END,
        CASE WHEN _g40 THEN 'service.1' END,
        CASE WHEN _g37 THEN 'service.2' END,
        CASE WHEN _g38 THEN 'service.3' END,
        CASE WHEN _g41 THEN 'service.4' END,
        CASE WHEN _g42 THEN 'by_lifecycle.loyal' END,
        CASE WHEN _g43 THEN 'by_lifecycle.at_risk' END,
        CASE WHEN _g44 THEN 'by_lifecycle.lost' END
      ] AS VARCHAR[]),
      NULL
    )
  END AS "rules_fired",
  CASE WHEN _ok18 THEN CAST(ARRAY[] AS VARCHAR[]) END AS "errors",
  _rej53 AS "rejected"
FROM _l10
ORDER BY
  _row

WITH _l0 AS (
  SELECT
    ROW_NUMBER() OVER (ORDER BY MONOTONICALLY_INCREASING_ID() NULLS LAST) - 1 AS _row,
    `customer_id` AS _in0,
    `name` AS _in1,
    `annual_spend` AS _in2,
    `近12个月订单数` AS _in3,
    `avg_order_value` AS _in4,
    `last_order_date` AS _in5,
    `customer_type` AS _in6,
    `industry` AS _in7,
    `region` AS _in8,
    `is_vip` AS _in9
  FROM `crm`.`customers`
), _l1 AS (
  SELECT
    *,
    _in0 IS NULL AS _b1,
    _in1 IS NULL AS _b2,
    TRY_CAST(_in2 AS DOUBLE) AS _v3,
    TRY_CAST(_in3 AS BIGINT) AS _v7,
    TRY_CAST(_in4 AS DOUBLE) AS _v10,
    TRY_CAST(_in5 AS DATE) AS _v14,
    CASE WHEN _in6 IN ('consumer', 'b2b', 'channel', 'internal') THEN _in6 END AS _v17,
    _in7 IS NULL AS _b19,
    _in8 IS NULL AS _b20,
    TRY_CAST(_in9 AS BOOLEAN) AS _v21,
    (
      _in8 IN ('north', 'east')
    ) AND STARTSWITH(_in7, 'retail') AS _h39
  FROM _l0
), _l2 AS (
  SELECT
    *,
    CASE WHEN (
      _v3 - _v3
    ) = 0 THEN _v3 END AS _v4,
    CAST(_v7 AS BIGINT) AS _f8,
    _v7 IS NULL AS _b9,
    (
      (
        NOT (
          _in4 IS NULL
        )
      ) AND (
        _v10 IS NULL
      )
    )
    OR (
      (
        NOT (
          _v10 IS NULL
        )
      )
      AND (
        NOT (
          (
            _v10 - _v10
          ) = 0
        )
      )
    ) AS _b13,
    _v14 IS NULL AS _b16,
    _v17 IS NULL AS _b18,
    (
      NOT (
        _in9 IS NULL
      )
    ) AND (
      _v21 IS NULL
    ) AS _b23,
    DATEDIFF(CAST('2026-11-22' AS DATE), CAST(_v14 AS DATE)) AS _l25,
    _v17 = 'internal' AS _g45
  FROM _l1
), _l3 AS (
  SELECT
    *,
    CAST(_v4 AS DOUBLE) AS _f5,
    _v4 IS NULL AS _b6,
    _f8 >= 1 AS _h30,
    _l25 > 365 AS _h33,
    _l25 > 180 AS _h34,
    (
      _f8 >= 6
    ) AND (
      _l25 <= 90
    ) AS _h35,
    (
      _f8 <= 1
    ) AND (
      _l25 <= 30
    ) AS _h36
  FROM _l2
), _l4 AS (
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
                    (
                      _b1 OR _b2
                    ) OR _b6
                  ) OR _b9
                ) OR _b13
              )
              OR _b16
            )
            OR _b18
          )
          OR _b19
        )
        OR _b20
      )
      OR _b23
    ) AS _ok24,
    CAST(_f5 AS DOUBLE) / NULLIF(CAST(GREATEST(_f8, 1) AS DOUBLE), 0) AS _t26,
    (
      _f5 >= 100000
    ) AND (
      _f8 >= 12
    ) AS _h28,
    CASE
      WHEN _h33
      THEN 'lifecycle.lost'
      WHEN _h34
      THEN 'lifecycle.at_risk'
      WHEN _h35
      THEN 'lifecycle.loyal'
      WHEN _h36
      THEN 'lifecycle.new'
      ELSE 'lifecycle.active'
    END AS _r37,
    CASE
      WHEN _h33
      THEN 'lost'
      WHEN _h34
      THEN 'at_risk'
      WHEN _h35
      THEN 'loyal'
      WHEN _h36
      THEN 'new'
      ELSE 'active'
    END AS _s38
  FROM _l3
), _l5 AS (
  SELECT
    *,
    COALESCE(
      (
        _f5 >= 20000
      )
      OR (
        (
          _f8 >= 6
        )
        AND (
          COALESCE(
            CAST(CASE WHEN (
              _v10 - _v10
            ) = 0 THEN _v10 END AS DOUBLE),
            CASE WHEN (
              _t26 - _t26
            ) = 0 THEN _t26 END
          ) >= 2000
        )
      ),
      FALSE
    ) AS _h29,
    _s38 = 'loyal' AS _g47,
    _s38 = 'at_risk' AS _g48,
    _s38 = 'lost' AS _g49,
    CASE
      WHEN NOT _ok24
      THEN ARRAY_JOIN(
        FILTER(
          ARRAY(
            CASE WHEN _b1 THEN 'customer_id' END,
            CASE WHEN _b2 THEN 'name' END,
            CASE WHEN _b6 THEN 'annual_spend' END,
            CASE WHEN _b9 THEN 'orders_12m' END,
            CASE WHEN _b13 THEN 'avg_order_value' END,
            CASE WHEN _b16 THEN 'last_order_date' END,
            CASE WHEN _b18 THEN 'customer_type' END,
            CASE WHEN _b19 THEN 'industry' END,
            CASE WHEN _b20 THEN 'region' END,
            CASE WHEN _b23 THEN 'is_vip' END
          ),
          x -> NOT (
            x IS NULL
          )
        ),
        ', '
      )
    END AS _rej58
  FROM _l4
), _l6 AS (
  SELECT
    *,
    CASE
      WHEN _h28
      THEN 'value_tier.A'
      WHEN _h29
      THEN 'value_tier.B'
      WHEN _h30
      THEN 'value_tier.C'
      ELSE 'value_tier.D'
    END AS _r31,
    CASE WHEN _h28 THEN 'A' WHEN _h29 THEN 'B' WHEN _h30 THEN 'C' ELSE 'D' END AS _s32,
    CAST(COALESCE(
      COALESCE(CASE WHEN _g47 THEN 30 END, CASE WHEN _g48 THEN 14 END, CASE WHEN _g49 THEN 90 END),
      60
    ) AS BIGINT) AS _o57
  FROM _l5
), _l7 AS (
  SELECT
    *,
    CAST(COALESCE(_v21, FALSE) AS BOOLEAN) AND (
      _s32 <> 'A'
    ) AS _h40,
    _s32 = 'A' AS _g42,
    _s32 = 'B' AS _g43,
    (
      _s38 = 'at_risk'
    ) AND (
      _s32 IN ('A', 'B')
    ) AS _g44,
    _s32 = 'C' AS _g46
  FROM _l6
), _l8 AS (
  SELECT
    *,
    FILTER(
      ARRAY(CASE WHEN _h39 THEN 'regional_promo' END, CASE WHEN _h40 THEN 'vip_care' END),
      x -> NOT (
        x IS NULL
      )
    ) AS _s41,
    CASE WHEN _g42 THEN CAST('0.1' AS DOUBLE) END AS _p50,
    CASE WHEN _g43 THEN CAST('0.05' AS DOUBLE) END AS _p51,
    CASE WHEN _g44 THEN CAST('0.05' AS DOUBLE) END AS _p52,
    CAST(COALESCE(
      COALESCE(
        CASE WHEN _g45 THEN 'internal' END,
        CASE WHEN _g42 THEN 'premium' END,
        CASE WHEN _g43 THEN 'standard' END,
        CASE WHEN _g46 THEN 'basic' END
      ),
      'self_service'
    ) AS STRING) AS _o56
  FROM _l7
), _l9 AS (
  SELECT
    *,
    (
      (
        CAST('0.0' AS DOUBLE) + COALESCE(_p50, CAST('0.0' AS DOUBLE))
      ) + COALESCE(_p51, CAST('0.0' AS DOUBLE))
    ) + COALESCE(_p52, CAST('0.0' AS DOUBLE)) AS _t53
  FROM _l8
), _l10 AS (
  SELECT
    *,
    CASE
      WHEN (
        (
          _p50 IS NULL
        ) AND (
          _p51 IS NULL
        )
      ) AND (
        _p52 IS NULL
      )
      THEN NULL
      ELSE CASE WHEN (
        _t53 - _t53
      ) = 0 THEN _t53 END
    END AS _o54
  FROM _l9
), _l11 AS (
  SELECT
    *,
    CAST(COALESCE(
      CASE
        WHEN _o54 < CAST('0.0' AS DOUBLE)
        THEN CAST('0.0' AS DOUBLE)
        WHEN _o54 > CAST('0.15' AS DOUBLE)
        THEN CAST('0.15' AS DOUBLE)
        ELSE _o54
      END,
      CAST('0.0' AS DOUBLE)
    ) AS DOUBLE) + CAST('0.0' AS DOUBLE) AS _o55
  FROM _l10
)
SELECT
  _in0 AS `customer_id`,
  CASE WHEN _ok24 THEN _s32 END AS `value_tier`,
  CASE WHEN _ok24 THEN _s38 END AS `lifecycle`,
  CASE WHEN _ok24 THEN _s41 END AS `flags`,
  CASE WHEN _ok24 THEN _o55 END AS `discount`,
  CASE WHEN _ok24 THEN _o56 END AS `service_level`,
  CASE WHEN _ok24 THEN _o57 END AS `contact_every`,
  CASE
    WHEN _ok24
    THEN FILTER(
      ARRAY(
        _r31,
        _r37,
        CASE WHEN _h39 THEN 'flags.regional_promo' END,
        CASE WHEN _h40 THEN 'flags.vip_care' END,
        CASE WHEN _g42 THEN 'pricing.1' END,
        CASE WHEN _g43 THEN 'pricing.2' END,
        CASE WHEN _g44 THEN 'pricing.3' END,
        CASE WHEN _g45 THEN 'service.1' END,
        CASE WHEN _g42 THEN 'service.2' END,
        CASE WHEN _g43 THEN 'service.3' END,
        CASE WHEN _g46 THEN 'service.4' END,
        CASE WHEN _g47 THEN 'by_lifecycle.loyal' END,
        CASE WHEN _g48 THEN 'by_lifecycle.at_risk' END,
        CASE WHEN _g49 THEN 'by_lifecycle.lost' END
      ),
      x -> NOT (
        x IS NULL
      )
    )
  END AS `rules_fired`,
  CASE WHEN _ok24 THEN CAST(ARRAY() AS ARRAY<STRING>) END AS `errors`,
  _rej58 AS `rejected`
FROM _l11
ORDER BY
  _row

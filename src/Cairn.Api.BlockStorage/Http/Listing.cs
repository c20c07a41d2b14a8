using System.Globalization;
using System.Text;

namespace Cairn.Api.BlockStorage.Http;

/// <summary>
/// Cinder's list parameters: filters, <c>sort</c> (<c>key[:dir],…</c>) or <c>sort_key</c>/<c>sort_dir</c>, <c>limit</c>,
/// <c>marker</c>, <c>offset</c>; pages hold at most 1,000 (<c>osapi_max_limit</c>) and a full page gets an absolute
/// <c>next</c> link with the same query and the last id as marker.
/// </summary>
public static class Listing
{
    public const int MaxLimit = 1000;

    /// <summary>Parameters that are not filters.</summary>
    public static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        "limit", "marker", "offset", "sort", "sort_key", "sort_dir", "all_tenants", "with_count", "is_public",
    };

    public sealed record Sort(string Key, bool Descending);

    public static IReadOnlyList<Sort> Sorts(IQueryCollection q, IReadOnlySet<string> allowed)
    {
        var result = new List<Sort>();
        if (q["sort"].ToString() is { Length: > 0 } sort)
        {
            if (q.ContainsKey("sort_key") || q.ContainsKey("sort_dir"))
                throw CinderError.BadRequest("Invalid input received: The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.");
            foreach (var part in sort.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = part.Split(':', 2);
                result.Add(new Sort(kv[0], Dir(kv.Length > 1 ? kv[1] : "desc")));
            }
        }
        else
        {
            var keys = q["sort_key"].ToString().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var dirs = q["sort_dir"].ToString().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < keys.Length; i++) result.Add(new Sort(keys[i], Dir(i < dirs.Length ? dirs[i] : dirs.Length > 0 ? dirs[^1] : "desc")));
            if (keys.Length == 0 && dirs.Length > 0) result.Add(new Sort("created_at", Dir(dirs[0])));
        }
        foreach (var s in result)
            if (!allowed.Contains(s.Key)) throw CinderError.BadRequest($"Invalid input received: Invalid sort key {s.Key}");
        if (result.All(s => s.Key != "created_at") && result.Count == 0) result.Add(new Sort("created_at", true));
        if (result.All(s => s.Key != "id")) result.Add(new Sort("id", result[^1].Descending));
        return result;
    }

    private static bool Dir(string d) => d.ToLowerInvariant() switch
    {
        "asc" => false,
        "desc" => true,
        _ => throw CinderError.BadRequest($"Invalid input received: Unknown sort direction, must be 'desc' or 'asc'"),
    };

    public static int? Limit(IQueryCollection q)
    {
        if (!q.TryGetValue("limit", out var v)) return null;
        if (!int.TryParse(v.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n))
            throw CinderError.BadRequest("Invalid input received: limit param must be an integer");
        if (n < 0) throw CinderError.BadRequest("Invalid input received: limit param must be positive");
        return n;
    }

    public static int Offset(IQueryCollection q)
    {
        if (!q.TryGetValue("offset", out var v)) return 0;
        if (!int.TryParse(v.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 0)
            throw CinderError.BadRequest("Invalid input received: offset param must be an integer greater than or equal to 0");
        return n;
    }

    /// <summary>Sorts, skips to the marker and cuts one page; <paramref name="next"/> is set when the page is full.</summary>
    public static List<T> Page<T>(IEnumerable<T> items, IQueryCollection q, IReadOnlySet<string> sortKeys, Func<T, string, IComparable?> field,
        Func<T, string> id, out bool next)
    {
        var sorts = Sorts(q, sortKeys);
        IOrderedEnumerable<T>? ordered = null;
        foreach (var s in sorts)
        {
            Func<T, IComparable?> key = x => field(x, s.Key);
            ordered = ordered is null
                ? (s.Descending ? items.OrderByDescending(key, Comparer.Instance) : items.OrderBy(key, Comparer.Instance))
                : (s.Descending ? ordered.ThenByDescending(key, Comparer.Instance) : ordered.ThenBy(key, Comparer.Instance));
        }
        var list = (ordered ?? items).ToList();
        var marker = q["marker"].ToString();
        if (marker.Length > 0)
        {
            var at = list.FindIndex(x => id(x) == marker);
            if (at < 0) throw CinderError.NotFound($"Marker {marker} could not be found.");
            list = list.GetRange(at + 1, list.Count - at - 1);
        }
        var offset = Offset(q);
        if (offset > 0) list = list.Skip(offset).ToList();
        var limit = Math.Min(Limit(q) ?? MaxLimit, MaxLimit);
        if (list.Count > limit) list = list.GetRange(0, limit);
        // Cinder links the next page whenever the page is full (it does not look ahead): so does this.
        next = limit > 0 && list.Count == limit;
        return list;
    }

    /// <summary>The <c>next</c> link: the same path and query with the marker of the page's last item.</summary>
    public static JsonArray NextLink(HttpRequest req, string lastId)
    {
        var sb = new StringBuilder(CinderRequest.Root(req)).Append(req.PathBase).Append(req.Path).Append('?');
        var first = true;
        foreach (var (k, vs) in req.Query)
        {
            if (k == "marker") continue;
            foreach (var v in vs)
            {
                if (!first) sb.Append('&');
                sb.Append(Uri.EscapeDataString(k)).Append('=').Append(Uri.EscapeDataString(v ?? ""));
                first = false;
            }
        }
        if (!req.Query.ContainsKey("limit"))
        {
            if (!first) sb.Append('&');
            sb.Append("limit=").Append(MaxLimit.ToString(CultureInfo.InvariantCulture));
            first = false;
        }
        if (!first) sb.Append('&');
        sb.Append("marker=").Append(Uri.EscapeDataString(lastId));
        return [new JsonObject { ["href"] = sb.ToString(), ["rel"] = "next" }];
    }

    /// <summary>Nulls first, then natural order (strings ordinal).</summary>
    private sealed class Comparer : IComparer<IComparable?>
    {
        public static readonly Comparer Instance = new();

        public int Compare(IComparable? x, IComparable? y) =>
            x is null ? (y is null ? 0 : -1) : y is null ? 1
            : x is string a && y is string b ? string.CompareOrdinal(a, b) : x.CompareTo(y);
    }

    /// <summary>Cinder's 3.60 time filters: <c>created_at=gt:2024-01-01T00:00:00</c> (gt, gte, lt, lte, eq, neq).</summary>
    public static bool TimeMatches(DateTimeOffset value, string filter)
    {
        var colon = filter.IndexOf(':', StringComparison.Ordinal);
        var (op, text) = colon > 0 && filter[..colon] is "gt" or "gte" or "lt" or "lte" or "eq" or "neq" ? (filter[..colon], filter[(colon + 1)..]) : ("eq", filter);
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
            throw CinderError.BadRequest($"Invalid input received: Invalid filter time '{text}'");
        return op switch
        {
            "gt" => value > t,
            "gte" => value >= t,
            "lt" => value < t,
            "lte" => value <= t,
            "neq" => value != t,
            _ => value == t,
        };
    }

    /// <summary>Cinder's metadata filter: a dict literal such as <c>{'k': 'v'}</c> or JSON.</summary>
    public static IReadOnlyDictionary<string, string> MetadataFilter(string text)
    {
        try
        {
            var json = text.Replace('\'', '"');
            if (JsonNode.Parse(json) is JsonObject o)
                return o.ToDictionary(p => p.Key, p => p.Value?.ToString() ?? "", StringComparer.Ordinal);
        }
        catch (System.Text.Json.JsonException)
        {
        }
        throw CinderError.BadRequest($"Invalid input received: metadata filter '{text}' is not a dictionary");
    }
}

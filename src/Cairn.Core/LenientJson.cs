using System.Text.Json.Nodes;

namespace Cairn.Core;

/// <summary>Reading values the lenient way the original APIs' old clients send them.</summary>
public static class LenientJson
{
    /// <summary>A boolean as true/false, 1/0, "true"/"false"/"1"/"0" (also "yes"/"no"/""); null when absent; anything
    /// else is an invalid-request error naming <paramref name="field"/>.</summary>
    public static bool? Flag(JsonNode? node, string field)
    {
        if (node is null) return null;
        if (node is JsonValue v)
        {
            if (v.TryGetValue<bool>(out var b)) return b;
            if (v.TryGetValue<long>(out var l) && l is 0 or 1) return l == 1;
            if (v.TryGetValue<string>(out var s))
            {
                switch (s.Trim().ToLowerInvariant())
                {
                    case "1" or "true" or "yes": return true;
                    case "0" or "false" or "no" or "": return false;
                }
            }
        }
        throw CairnException.Invalid($"'{field}' must be a boolean (true/false or 1/0)");
    }
}

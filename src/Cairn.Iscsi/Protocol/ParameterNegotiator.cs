using System.Globalization;

namespace Cairn.Iscsi.Protocol;

/// <summary>
/// Target side of operational parameter negotiation (RFC 7143 §6.2, §13). Feeds on the initiator's keys and writes the
/// answers: list keys pick the first supported value, numeric keys take min/max per their result function, boolean keys
/// OR/AND; bad values get <c>Reject</c>, unknown keys <c>NotUnderstood</c>, session keys in a discovery session
/// <c>Irrelevant</c>. Login-only keys (names, AuthMethod, CHAP) are handled by the login state machine, not here.
/// </summary>
public sealed class ParameterNegotiator(TargetLimits ours, SessionParameters result)
{
    private bool _declaredOurs;

    /// <summary>The values agreed so far.</summary>
    public SessionParameters Result => result;

    /// <summary>Set for a discovery session: session-only keys answer Irrelevant.</summary>
    public bool Discovery { get; set; }

    /// <summary>True once our MaxRecvDataSegmentLength has been declared to the initiator.</summary>
    public bool DeclaredOurs => _declaredOurs;

    /// <summary>
    /// Negotiates one key. Returns false when the key is not an operational key we know (the caller answers
    /// NotUnderstood or handles it itself).
    /// </summary>
    public bool TryNegotiate(string key, string value, List<KeyValuePair<string, string>> response)
    {
        switch (key)
        {
            case "HeaderDigest":
                response.Add(new(key, PickDigest(value, out var hd)));
                if (hd is { } h) result.HeaderDigest = h;
                return true;
            case "DataDigest":
                response.Add(new(key, PickDigest(value, out var dd)));
                if (dd is { } d) result.DataDigest = d;
                return true;
            case "MaxRecvDataSegmentLength":
                // Declarative (§13.12): the initiator tells us what it receives; we answer with what we receive.
                if (TryNumber(value, 512, 16777215, out var mrdsl))
                {
                    result.InitiatorMaxRecvDataSegmentLength = (int)mrdsl;
                    DeclareOurs(response);
                }
                else response.Add(new(key, TextKeys.Reject));
                return true;
            case "MaxBurstLength":
                return Numeric(key, value, 512, 16777215, response, v => result.MaxBurstLength = (int)Math.Min(v, ours.MaxBurstLength), () => result.MaxBurstLength);
            case "FirstBurstLength":
                return Numeric(key, value, 512, 16777215, response, v => result.FirstBurstLength = (int)Math.Min(v, ours.FirstBurstLength), () => result.FirstBurstLength);
            case "MaxOutstandingR2T":
                return Numeric(key, value, 1, 65535, response, v => result.MaxOutstandingR2T = (int)Math.Min(v, ours.MaxOutstandingR2T), () => result.MaxOutstandingR2T);
            case "MaxConnections":
                return Numeric(key, value, 1, 65535, response, _ => result.MaxConnections = 1, () => result.MaxConnections);
            case "DefaultTime2Wait":
                return Numeric(key, value, 0, 3600, response, v => result.DefaultTime2Wait = (int)Math.Max(v, ours.DefaultTime2Wait), () => result.DefaultTime2Wait);
            case "DefaultTime2Retain":
                return Numeric(key, value, 0, 3600, response, v => result.DefaultTime2Retain = (int)Math.Min(v, ours.DefaultTime2Retain), () => result.DefaultTime2Retain);
            case "ErrorRecoveryLevel":
                // We implement level 0 only; the result function is min.
                return Numeric(key, value, 0, 2, response, _ => result.ErrorRecoveryLevel = 0, () => 0, sessionOnly: false);
            case "InitialR2T":
                return Boolean(key, value, response, v => result.InitialR2T = v || ours.InitialR2T, () => result.InitialR2T);
            case "ImmediateData":
                return Boolean(key, value, response, v => result.ImmediateData = v && ours.ImmediateData, () => result.ImmediateData);
            case "DataPDUInOrder":
                return Boolean(key, value, response, _ => result.DataPduInOrder = true, () => true);
            case "DataSequenceInOrder":
                return Boolean(key, value, response, _ => result.DataSequenceInOrder = true, () => true);
            case "IFMarker" or "OFMarker":
                // RFC 3720 markers, removed by RFC 7143; AND function, we say No.
                response.Add(new(key, value is "Yes" or "No" ? "No" : TextKeys.Reject));
                return true;
            case "IFMarkInt" or "OFMarkInt":
                response.Add(new(key, TextKeys.Irrelevant));
                return true;
            case "iSCSIProtocolLevel":
                // RFC 7144 §2.1: numeric, min; we implement RFC 7143 (level 1).
                if (TryNumber(value, 0, 31, out var lvl)) response.Add(new(key, Math.Min(lvl, 1).ToString(CultureInfo.InvariantCulture)));
                else response.Add(new(key, TextKeys.Reject));
                return true;
            default:
                return false;
        }
    }

    /// <summary>Adds our MaxRecvDataSegmentLength declaration once (the target must declare it, §13.12).</summary>
    public void DeclareOurs(List<KeyValuePair<string, string>> response)
    {
        if (_declaredOurs) return;
        _declaredOurs = true;
        result.TargetMaxRecvDataSegmentLength = ours.MaxRecvDataSegmentLength;
        response.Add(new("MaxRecvDataSegmentLength", ours.MaxRecvDataSegmentLength.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>Final consistency rule: FirstBurstLength never exceeds MaxBurstLength (§13.14).</summary>
    public void Complete()
    {
        if (result.FirstBurstLength > result.MaxBurstLength) result.FirstBurstLength = result.MaxBurstLength;
    }

    private static string PickDigest(string offered, out bool? crc)
    {
        foreach (var r in offered.Split(','))
        {
            if (r == "CRC32C") { crc = true; return r; }
            if (r == "None") { crc = false; return r; }
        }
        crc = null;
        return TextKeys.Reject;
    }

    private bool Numeric(string key, string value, long min, long max, List<KeyValuePair<string, string>> response,
        Action<long> apply, Func<int> answer, bool sessionOnly = true)
    {
        if (sessionOnly && Discovery) { response.Add(new(key, TextKeys.Irrelevant)); return true; }
        if (!TryNumber(value, min, max, out var v)) { response.Add(new(key, TextKeys.Reject)); return true; }
        apply(v);
        response.Add(new(key, answer().ToString(CultureInfo.InvariantCulture)));
        return true;
    }

    private bool Boolean(string key, string value, List<KeyValuePair<string, string>> response, Action<bool> apply, Func<bool> answer)
    {
        if (Discovery) { response.Add(new(key, TextKeys.Irrelevant)); return true; }
        if (value is not ("Yes" or "No")) { response.Add(new(key, TextKeys.Reject)); return true; }
        apply(value == "Yes");
        response.Add(new(key, answer() ? "Yes" : "No"));
        return true;
    }

    /// <summary>Parses a decimal or 0x-hex number within [min, max] (RFC 7143 §6.1 numeric values).</summary>
    public static bool TryNumber(string s, long min, long max, out long value)
    {
        bool ok = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        return ok && value >= min && value <= max;
    }
}

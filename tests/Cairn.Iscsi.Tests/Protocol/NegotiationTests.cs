using Cairn.Iscsi.Protocol;

namespace Cairn.Iscsi.Tests.Protocol;

public class NegotiationTests
{
    private static (SessionParameters P, Dictionary<string, string> Answer) Negotiate(bool discovery, params (string K, string V)[] keys)
    {
        var p = new SessionParameters();
        var n = new ParameterNegotiator(new TargetLimits(), p) { Discovery = discovery };
        var answer = new List<KeyValuePair<string, string>>();
        foreach (var (k, v) in keys)
            if (!n.TryNegotiate(k, v, answer)) answer.Add(new(k, TextKeys.NotUnderstood));
        n.Complete();
        return (p, answer.ToDictionary(a => a.Key, a => a.Value));
    }

    [Fact]
    public void Numeric_keys_take_min_or_max_and_lists_pick_the_first_supported()
    {
        var (p, a) = Negotiate(false,
            ("HeaderDigest", "CRC32C,None"), ("DataDigest", "None,CRC32C"), ("MaxBurstLength", "16776192"),
            ("FirstBurstLength", "262144"), ("MaxOutstandingR2T", "64"), ("DefaultTime2Wait", "0"),
            ("DefaultTime2Retain", "60"), ("ErrorRecoveryLevel", "2"), ("MaxConnections", "8"));
        Assert.Equal("CRC32C", a["HeaderDigest"]);
        Assert.Equal("None", a["DataDigest"]);
        Assert.True(p.HeaderDigest);
        Assert.False(p.DataDigest);
        Assert.Equal("1048576", a["MaxBurstLength"]);
        Assert.Equal("262144", a["FirstBurstLength"]);
        Assert.Equal("16", a["MaxOutstandingR2T"]);
        Assert.Equal("2", a["DefaultTime2Wait"]);
        Assert.Equal("0", a["DefaultTime2Retain"]);
        Assert.Equal("0", a["ErrorRecoveryLevel"]);
        Assert.Equal("1", a["MaxConnections"]);
    }

    [Fact]
    public void Booleans_follow_or_and_functions()
    {
        var (p, a) = Negotiate(false, ("InitialR2T", "No"), ("ImmediateData", "Yes"), ("DataPDUInOrder", "No"));
        Assert.Equal("No", a["InitialR2T"]);
        Assert.Equal("Yes", a["ImmediateData"]);
        Assert.Equal("Yes", a["DataPDUInOrder"]);
        Assert.False(p.InitialR2T);
        (p, a) = Negotiate(false, ("InitialR2T", "Yes"), ("ImmediateData", "No"));
        Assert.Equal("Yes", a["InitialR2T"]);
        Assert.Equal("No", a["ImmediateData"]);
        Assert.False(p.ImmediateData);
    }

    [Fact]
    public void Max_recv_data_segment_length_is_declared_per_direction()
    {
        var (p, a) = Negotiate(false, ("MaxRecvDataSegmentLength", "4096"));
        Assert.Equal(4096, p.InitiatorMaxRecvDataSegmentLength);
        Assert.Equal("262144", a["MaxRecvDataSegmentLength"]);
        Assert.Equal(262144, p.TargetMaxRecvDataSegmentLength);
    }

    [Fact]
    public void Bad_values_are_rejected_unknown_keys_not_understood_and_session_keys_irrelevant_in_discovery()
    {
        var (_, a) = Negotiate(false, ("MaxBurstLength", "abc"), ("FirstBurstLength", "100"), ("HeaderDigest", "MD5"),
            ("InitialR2T", "Maybe"), ("X-com.example.Foo", "1"), ("MaxRecvDataSegmentLength", "99999999"));
        Assert.Equal(TextKeys.Reject, a["MaxBurstLength"]);
        Assert.Equal(TextKeys.Reject, a["FirstBurstLength"]);
        Assert.Equal(TextKeys.Reject, a["HeaderDigest"]);
        Assert.Equal(TextKeys.Reject, a["InitialR2T"]);
        Assert.Equal(TextKeys.Reject, a["MaxRecvDataSegmentLength"]);
        Assert.Equal(TextKeys.NotUnderstood, a["X-com.example.Foo"]);
        (_, a) = Negotiate(true, ("MaxBurstLength", "262144"), ("InitialR2T", "Yes"), ("HeaderDigest", "None"));
        Assert.Equal(TextKeys.Irrelevant, a["MaxBurstLength"]);
        Assert.Equal(TextKeys.Irrelevant, a["InitialR2T"]);
        Assert.Equal("None", a["HeaderDigest"]);
    }

    [Fact]
    public void First_burst_never_exceeds_max_burst()
    {
        var (p, _) = Negotiate(false, ("MaxBurstLength", "8192"), ("FirstBurstLength", "65536"));
        Assert.Equal(8192, p.FirstBurstLength);
    }

    [Fact]
    public void Text_keys_parse_and_serialize()
    {
        var bytes = TextKeys.Serialize([new("A", "1"), new("TargetName", "iqn.x:y"), new("Empty", "")]);
        var list = new List<KeyValuePair<string, string>>();
        Assert.True(TextKeys.TryParse(bytes, list));
        Assert.Equal(["A", "TargetName", "Empty"], list.Select(k => k.Key));
        Assert.Equal("iqn.x:y", list[1].Value);
        Assert.False(TextKeys.TryParse("novalue\0"u8, []));
        Assert.False(TextKeys.TryParse("=x\0"u8, []));
        Assert.False(TextKeys.TryParse("bad key=x\0"u8, []));
    }
}

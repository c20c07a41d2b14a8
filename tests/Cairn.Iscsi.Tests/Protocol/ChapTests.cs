using System.Security.Cryptography;
using System.Text;
using Cairn.Iscsi.Protocol;

namespace Cairn.Iscsi.Tests.Protocol;

public class ChapTests
{
    private static readonly ChapSecret Initiator = new("alice", "initiator-secret-1");
    private static readonly ChapSecret Target = new("tgt", "target-secret-22");

    private static (ChapAuthenticator Auth, byte Id, byte[] Challenge) Start(ChapSecret? mutual = null)
    {
        var auth = new ChapAuthenticator(Initiator, mutual);
        var answer = new List<KeyValuePair<string, string>>();
        Assert.Equal(ChapStep.Continue, auth.Step(new Dictionary<string, string> { ["CHAP_A"] = "7,5" }, answer));
        var a = answer.ToDictionary(k => k.Key, k => k.Value);
        Assert.Equal("5", a["CHAP_A"]);
        Assert.True(ChapAuthenticator.TryDecode(a["CHAP_C"], 1024, out var c));
        return (auth, byte.Parse(a["CHAP_I"], System.Globalization.CultureInfo.InvariantCulture), c);
    }

    private static string Answer(byte id, string secret, byte[] challenge)
        => ChapAuthenticator.ToHex(MD5.HashData([id, .. Encoding.UTF8.GetBytes(secret), .. challenge]));

    [Fact]
    public void One_way_chap_accepts_the_right_secret()
    {
        var (auth, id, c) = Start();
        var keys = new Dictionary<string, string> { ["CHAP_N"] = "alice", ["CHAP_R"] = Answer(id, "initiator-secret-1", c) };
        Assert.Equal(ChapStep.Authenticated, auth.Step(keys, []));
    }

    [Fact]
    public void Login_with_wrong_chap_secret_is_rejected()
    {
        var (auth, id, c) = Start();
        var keys = new Dictionary<string, string> { ["CHAP_N"] = "alice", ["CHAP_R"] = Answer(id, "wrong", c) };
        Assert.Equal(ChapStep.Failed, auth.Step(keys, []));
        Assert.DoesNotContain("initiator-secret-1", auth.FailureReason!);
    }

    [Fact]
    public void Wrong_user_or_missing_algorithm_fails()
    {
        var (auth, id, c) = Start();
        Assert.Equal(ChapStep.Failed, auth.Step(new Dictionary<string, string> { ["CHAP_N"] = "bob", ["CHAP_R"] = Answer(id, "initiator-secret-1", c) }, []));
        var answer = new List<KeyValuePair<string, string>>();
        Assert.Equal(ChapStep.Failed, new ChapAuthenticator(Initiator, null).Step(new Dictionary<string, string> { ["CHAP_A"] = "7" }, answer));
        Assert.Equal(TextKeys.Reject, answer.Single().Value);
    }

    [Fact]
    public void Mutual_chap_answers_the_initiators_challenge()
    {
        var (auth, id, c) = Start(Target);
        var ic = RandomNumberGenerator.GetBytes(16);
        var keys = new Dictionary<string, string>
        {
            ["CHAP_N"] = "alice", ["CHAP_R"] = "0b" + Convert.ToBase64String(MD5.HashData([id, .. "initiator-secret-1"u8.ToArray(), .. c])),
            ["CHAP_I"] = "77", ["CHAP_C"] = ChapAuthenticator.ToHex(ic),
        };
        var answer = new List<KeyValuePair<string, string>>();
        Assert.Equal(ChapStep.Authenticated, auth.Step(keys, answer));
        var a = answer.ToDictionary(k => k.Key, k => k.Value);
        Assert.Equal("tgt", a["CHAP_N"]);
        Assert.Equal(Answer(77, "target-secret-22", ic), a["CHAP_R"]);
    }

    [Fact]
    public void Reflected_challenge_and_mutual_without_configuration_fail()
    {
        var (auth, id, c) = Start(Target);
        var keys = new Dictionary<string, string>
        {
            ["CHAP_N"] = "alice", ["CHAP_R"] = Answer(id, "initiator-secret-1", c), ["CHAP_I"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["CHAP_C"] = ChapAuthenticator.ToHex(c),
        };
        Assert.Equal(ChapStep.Failed, auth.Step(keys, []));

        (auth, id, c) = Start(mutual: null);
        keys["CHAP_R"] = Answer(id, "initiator-secret-1", c);
        keys["CHAP_C"] = ChapAuthenticator.ToHex(RandomNumberGenerator.GetBytes(16));
        Assert.Equal(ChapStep.Failed, auth.Step(keys, []));
    }

    [Fact]
    public void Secrets_are_not_in_to_string()
    {
        Assert.DoesNotContain("initiator-secret-1", Initiator.ToString());
        var t = new Cairn.Iscsi.Target.IscsiTarget { Iqn = "iqn.a:b", Chap = Initiator };
        Assert.DoesNotContain("initiator-secret-1", t.ToString());
    }
}

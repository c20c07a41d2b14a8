public class Smoke { [Fact] public void Builds() => Assert.True(Cairn.TestSupport.ExternalTool.Find("sh") is not null); }

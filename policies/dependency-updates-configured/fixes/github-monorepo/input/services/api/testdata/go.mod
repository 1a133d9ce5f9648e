module fixture
